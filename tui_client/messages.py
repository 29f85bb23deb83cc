"""Messages the network worker posts to the app (it never touches widgets directly)."""

from __future__ import annotations

from textual.message import Message

from esper.sanctum.v2 import sanctum_pb2 as spb
from tui_client.state import ConnState


class SnapshotReceived(Message):
    """A new snapshot of the watched run arrived."""

    def __init__(self, snapshot: spb.SanctumSnapshot) -> None:
        super().__init__()
        self.snapshot = snapshot


class HeartbeatReceived(Message):
    """The server is alive; the run may be idle."""

    def __init__(self, heartbeat: spb.Heartbeat) -> None:
        super().__init__()
        self.heartbeat = heartbeat


class ConnectionChanged(Message):
    """The subscription connected, lost its server (and will retry), or failed for good."""

    def __init__(self, state: ConnState, detail: str = "", retry_in: float | None = None) -> None:
        super().__init__()
        self.state = state
        self.detail = detail
        self.retry_in = retry_in


class RunsListed(Message):
    """The server holds several runs and none was chosen: the user should pick one."""

    def __init__(self, runs: list[spb.RunSummary], total: int = 0) -> None:
        super().__init__()
        self.runs = runs
        #: Runs the server holds (0 = not said): more than `runs` when it has very many.
        self.total = total
