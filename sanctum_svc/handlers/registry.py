"""The handler registry: one small function per event type.

A handler receives the run's aggregator, the (validated, in-order) event and the server
receive time. It mutates the run's working snapshot; it never reads the wall clock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from esper.telemetry.v1 import telemetry_pb2 as tpb

if TYPE_CHECKING:
    from sanctum_svc.aggregator import RunAggregator

Handler = Callable[["RunAggregator", tpb.TelemetryEvent, float], None]

#: Event type -> handler. Filled by the @handles decorators in the handler modules.
HANDLERS: dict[int, Handler] = {}


def handles(*event_types: int) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of each given event type."""

    def register(fn: Handler) -> Handler:
        for event_type in event_types:
            if event_type in HANDLERS:
                raise ValueError(f"two handlers for event type {event_type}")
            HANDLERS[event_type] = fn
        return fn

    return register
