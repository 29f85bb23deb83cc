"""Events built by the sender thread instead of the caller (TelemetryClient.emit_deferred):
the caller's cost is a sequence number and an append, whatever the event's size.

The objects that carry a call to the sender are recycled (`Pool`): the sender gives each
back once its event is built. A call then leaves no new object alive, so it does not add to
the work of the caller's garbage collector, whose pauses are what a caller's p99 sees.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from esper.telemetry.v1 import telemetry_pb2 as tpb

#: Carriers kept for reuse per pool; beyond, the garbage collector takes them.
POOL_SIZE = 4096

D = TypeVar("D", bound="Deferred")


class Pool(Generic[D]):
    """Free carriers of one kind. `take()` on the caller's thread, `give()` on the
    sender's: deque append/pop are atomic, no lock is needed."""

    def __init__(self, make: Callable[[Pool[D]], D]) -> None:
        self._free: deque[D] = deque(maxlen=POOL_SIZE)
        self._make = make

    def take(self) -> D:
        try:
            return self._free.pop()
        except IndexError:
            return self._make(self)

    def give(self, item: D) -> None:
        self._free.append(item)


class Deferred:
    """An event to build later; the client sets `seq` and `emitted_ns` when it is queued.
    Subclasses hold what `build()` needs and clear it in `reset()`."""

    __slots__ = ("emitted_ns", "event_type", "pool", "seq")

    def __init__(self, pool: Pool[Any] | None = None) -> None:
        self.event_type = 0
        self.seq = 0
        self.emitted_ns = 0
        self.pool = pool

    def build(self) -> tpb.TelemetryEvent:  # pragma: no cover - subclasses
        raise NotImplementedError

    def reset(self) -> None:
        """Drop references to the call's arguments (before the carrier is reused)."""

    def recycle(self) -> None:
        """Drop the arguments and give the carrier back to its pool (once a copy of it
        crossed to the sender process)."""
        self.reset()
        if self.pool is not None:
            self.pool.give(self)

    def __getstate__(self) -> dict[str, Any]:
        """What crosses to the sender process: every slot but the pool (which stays with
        the caller); a pickled carrier is built there and then dropped."""
        state: dict[str, Any] = {}
        for cls in type(self).__mro__:
            for name in getattr(cls, "__slots__", ()):
                if name != "pool" and hasattr(self, name):
                    state[name] = getattr(self, name)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.pool = None
        for name, value in state.items():
            setattr(self, name, value)

    def event(self) -> tpb.TelemetryEvent:
        """The built event; the carrier goes back to its pool."""
        try:
            event = self.build()
            event.seq = self.seq
            return event
        finally:
            self.reset()
            if self.pool is not None:
                self.pool.give(self)


class Call(Deferred):
    """A deferred event built as `fn(*args)` (the typed emitters' builders)."""

    __slots__ = ("args", "fn")

    def __init__(self, pool: Pool[Any] | None = None) -> None:
        super().__init__(pool)
        self.fn: Callable[..., tpb.TelemetryEvent] | None = None
        #: A list reused across calls (a tuple per call would stay alive until built).
        self.args: list[Any] = []

    def build(self) -> tpb.TelemetryEvent:
        assert self.fn is not None
        return self.fn(*self.args)

    def reset(self) -> None:
        self.args.clear()
        self.fn = None
