"""Client-side view state that is not in a snapshot: connection and freshness.

Kept out of widgets so the header and delivery panel derive the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper_common.derived import liveness_for_age

ConnState = Literal["connecting", "connected", "disconnected", "error"]


@dataclass(frozen=True)
class Freshness:
    """Server-reported seconds since the run's last event, and when (client clock) we got it.

    The age keeps growing on the client between messages, so a silent server reads as
    SLOW/STALE even if no heartbeat arrives.
    """

    seconds_since_last_event: float | None
    received_at: float

    def age(self, now: float) -> float | None:
        if self.seconds_since_last_event is None:
            return None
        return self.seconds_since_last_event + max(0.0, now - self.received_at)


def liveness(conn: ConnState, fresh: Freshness | None, now: float, completed: bool = False) -> str:
    """Badge key: "disconnected", "connecting", "error", "DONE" for a finished run (its
    silence is expected), or LIVE / SLOW / STALE by age."""
    if conn != "connected":
        return conn
    if completed:
        return "DONE"
    age = fresh.age(now) if fresh else None
    if age is None:
        return "STALE"
    return spb.Liveness.Name(liveness_for_age(age)).removeprefix("LIVENESS_")


def snapshot_age(snapshot: spb.SanctumSnapshot, now: float) -> float | None:
    """Seconds between the snapshot's generation on the server and `now` (client clock)."""
    if not snapshot.HasField("generated_at"):
        return None
    return max(0.0, now - snapshot.generated_at.ToNanoseconds() / 1e9)


@dataclass(frozen=True)
class View:
    """Everything a panel needs to draw: the latest snapshot plus client-side context."""

    snapshot: spb.SanctumSnapshot | None
    conn: ConnState
    fresh: Freshness | None
    now: float
    target: str

    @property
    def liveness(self) -> str:
        snapshot = self.snapshot
        completed = snapshot is not None and snapshot.run.status == spb.RUN_STATUS_COMPLETED
        return liveness(self.conn, self.fresh, self.now, completed)

    @property
    def event_age(self) -> float | None:
        return self.fresh.age(self.now) if self.fresh else None

    @property
    def view_age(self) -> float | None:
        return snapshot_age(self.snapshot, self.now) if self.snapshot else None
