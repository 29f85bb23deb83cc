"""Scrolling event log: the snapshot's recent lifecycle and anomaly events, newest last."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from esper.sanctum.v1 import sanctum_pb2 as spb
from tui_client.renderables.event_log import log_text


class EventLog(VerticalScroll, can_focus=True):
    """Follows the newest entry unless the user scrolled up (Textual's anchor: it holds
    across layout passes, so a first large update still ends at the bottom)."""

    def compose(self) -> ComposeResult:
        self._text = Static(log_text(None), id="event-log-text")  # held: see DecisionsPanel
        yield self._text

    def on_mount(self) -> None:
        self.border_title = "EVENTS"
        self.anchor()

    def show(self, snapshot: spb.SanctumSnapshot | None) -> None:
        self._text.update(log_text(snapshot))
