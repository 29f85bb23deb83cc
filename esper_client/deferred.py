"""Events built by the sender thread instead of the caller (TelemetryClient.emit_deferred):
the caller's cost is a sequence number and an append, whatever the event's size.

Each deferred event is one small object (the caller's garbage collector runs more often the
more objects each call leaves alive, and its pauses are what a caller's p99 sees).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from esper.telemetry.v1 import telemetry_pb2 as tpb


class Deferred:
    """An event to build later; the client sets `seq` and `emitted_ns` when it is queued.
    Subclasses hold what `build()` needs."""

    __slots__ = ("emitted_ns", "event_type", "seq")

    def __init__(self, event_type: int) -> None:
        self.event_type = event_type
        self.seq = 0
        self.emitted_ns = 0

    def build(self) -> tpb.TelemetryEvent:  # pragma: no cover - subclasses
        raise NotImplementedError

    def event(self) -> tpb.TelemetryEvent:
        event = self.build()
        event.seq = self.seq
        return event


class Call(Deferred):
    """A deferred event built as `fn(*args)` (the typed emitters' builders)."""

    __slots__ = ("args", "fn")

    def __init__(self, event_type: int, fn: Callable[..., tpb.TelemetryEvent],
                 args: tuple[Any, ...]) -> None:
        self.event_type = event_type
        self.seq = 0
        self.emitted_ns = 0
        self.fn = fn
        self.args = args

    def build(self) -> tpb.TelemetryEvent:
        return self.fn(*self.args)
