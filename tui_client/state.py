"""Client-side view state that is not in a snapshot: connection and freshness.

Kept out of widgets so the header and delivery panel derive the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper_common.derived import liveness_for_age
from tui_client.renderables.fmt import ts_seconds

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


#: Badge key of a run that ended: its silence is expected, so no LIVE/SLOW/STALE.
ENDED_KEYS = {
    spb.RUN_STATUS_COMPLETED: "DONE",
    spb.RUN_STATUS_STOPPED: "STOPPED",
    spb.RUN_STATUS_FAILED: "FAILED",
}


def liveness(conn: ConnState, fresh: Freshness | None, now: float,
             status: spb.RunStatus = spb.RUN_STATUS_UNSPECIFIED) -> str:
    """Badge key: "disconnected", "connecting", "error", "DONE" / "STOPPED" / "FAILED" for a
    run that ended (its silence is expected), or LIVE / SLOW / STALE by age."""
    if conn != "connected":
        return conn
    if status in ENDED_KEYS:
        return ENDED_KEYS[status]
    age = fresh.age(now) if fresh else None
    if age is None:
        return "STALE"
    return spb.Liveness.Name(liveness_for_age(age)).removeprefix("LIVENESS_")


def snapshot_age(snapshot: spb.SanctumSnapshot, now: float) -> float | None:
    """Seconds between the snapshot's generation on the server and `now` (client clock)."""
    generated = ts_seconds(snapshot.generated_at) if snapshot.HasField("generated_at") else None
    if generated is None:
        return None
    return max(0.0, now - generated)


@dataclass(frozen=True)
class View:
    """Everything a panel needs to draw: the latest snapshot plus client-side context."""

    snapshot: spb.SanctumSnapshot | None
    conn: ConnState
    fresh: Freshness | None
    now: float
    target: str
    #: Why the connection is down ("TLS: ... not valid for the name ..."); "" when up.
    detail: str = ""

    @property
    def liveness(self) -> str:
        snapshot = self.snapshot
        status = snapshot.run.status if snapshot is not None else spb.RUN_STATUS_UNSPECIFIED
        return liveness(self.conn, self.fresh, self.now, status)

    @property
    def connection(self) -> str:
        """ "Connected to host:50051." or "Disconnected (host:50051): why"."""
        if self.conn == "connected":
            return f"Connected to {self.target}."
        why = f": {self.detail}" if self.detail else "."
        return f"{self.conn.capitalize()} ({self.target}){why}"

    @property
    def event_age(self) -> float | None:
        return self.fresh.age(self.now) if self.fresh else None

    @property
    def view_age(self) -> float | None:
        return snapshot_age(self.snapshot, self.now) if self.snapshot else None
