"""The mapping registry: one small function per event type of the original system."""

from __future__ import annotations

from collections.abc import Callable

from esper_client.bridge.context import Mapping

#: The original's event type name -> the function that maps it. ANALYTICS_SNAPSHOT is
#: keyed by its kind as well ("ANALYTICS_SNAPSHOT[kind=last_action]").
MAPPINGS: dict[str, Mapping] = {}


def maps(*names: str) -> Callable[[Mapping], Mapping]:
    """Register the decorated function as the mapping of each named event type."""

    def register(fn: Mapping) -> Mapping:
        for name in names:
            if name in MAPPINGS:
                raise ValueError(f"two mappings for {name}")
            MAPPINGS[name] = fn
        return fn

    return register


def label(event_type: str, data: dict) -> str:
    """The name a record is mapped and reported under: its event type, and for the wide
    ANALYTICS_SNAPSHOT payload its kind too."""
    if event_type == "ANALYTICS_SNAPSHOT":
        kind = data.get("kind")
        return f"ANALYTICS_SNAPSHOT[kind={kind if isinstance(kind, str) else '?'}]"
    return event_type
