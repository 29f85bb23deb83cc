"""Scrolling event log: the snapshot's recent lifecycle and anomaly events, newest last."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.reactive import reactive

from esper.sanctum.v2 import sanctum_pb2 as spb
from tui_client.renderables.event_log import log_text
from tui_client.widgets.bound import Drawn


class LogLines(Drawn):
    """The log's lines (bound to the panel's snapshot)."""

    DEFAULT_CSS = "LogLines { height: auto; }"

    snapshot: reactive[spb.SanctumSnapshot | None] = reactive(
        None, always_update=True, repaint=False)

    def watch_snapshot(self) -> None:
        self.redraw()

    def draw(self) -> Text:
        return log_text(self.snapshot)


class EventLog(VerticalScroll, can_focus=True):
    """Follows the newest entry unless the user scrolled up (Textual's anchor: it holds
    across layout passes, so a first large update still ends at the bottom)."""

    #: The newest snapshot the app applied (bound to the app's; the lines inside redraw).
    snapshot: reactive[spb.SanctumSnapshot | None] = reactive(
        None, always_update=True, repaint=False)

    def compose(self) -> ComposeResult:
        yield LogLines(id="event-log-text").data_bind(EventLog.snapshot)

    def on_mount(self) -> None:
        self.border_title = "EVENTS"
        self.anchor()
