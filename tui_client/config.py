"""TUI options: what `esper-tui`'s flags become."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from esper_common.channel import ChannelConfig
from tui_client.connection import Backoff, Subscription

DEFAULT_SERVER = "127.0.0.1:50051"
#: The display never redraws faster than this, whatever the server sends: a redraw is a
#: diff of changed cells (panels whose text did not change are not repainted), which a
#: terminal over SSH keeps up with at this rate.
MAX_UI_HZ = 30.0
#: Snapshots/s asked of the server by default: its cap (30 Hz), matched by the producer's
#: 40 ms send gap, so each send reaches the screen without waiting out an interval.
#: emit() -> repaint p99 (pilot, 2,000 ev/s, `python -m bench tui_freshness`): 52 ms at
#: 30 Hz, 105 ms at 20 Hz. Over a slow link the server sends the newest state when the
#: previous write drains, so a lower rate is never needed to keep up; --max-hz lowers it.
DEFAULT_TUI_HZ = 30.0


@dataclass(frozen=True)
class TuiOptions:
    """Where to connect, which run, and how often to redraw."""

    server: str = DEFAULT_SERVER
    run: str = ""
    token: str | None = None
    tls_ca: Path | None = None
    #: Snapshots per second asked of the server; the UI redraws as each arrives, at most
    #: min(max_hz, MAX_UI_HZ) times a second.
    max_hz: float = DEFAULT_TUI_HZ
    backoff: Backoff = field(default_factory=Backoff)

    def __post_init__(self) -> None:
        if not 0 < self.max_hz <= 60:
            raise ValueError(f"max_hz must be in (0, 60], got {self.max_hz}")
        if not self.server or not all(":" in t for t in self.server.split(",")):
            raise ValueError(f"server must be HOST:PORT[,HOST:PORT...], got {self.server!r}")

    @property
    def ui_hz(self) -> float:
        return min(self.max_hz, MAX_UI_HZ)

    def channel(self) -> ChannelConfig:
        return ChannelConfig(self.server, self.token, self.tls_ca, subscriber=True)

    def subscription(self, run: str | None = None, ask: bool = True) -> Subscription:
        run_id = self.run if run is None else run
        return Subscription(self.channel(), run_id, self.max_hz, self.backoff, ask_when_several=ask)
