"""Heads panel (seed Task 6.2): per-head entropy and grad norm, gradient-flow footer."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.widgets import Static

from esper.sanctum.v1 import sanctum_pb2 as spb
from tui_client.renderables.heads import heads_text


class HeadsPanel(Static, can_focus=True):
    """Bars per action head; footer `Flow: CV:… Dead:… Exploding:… Clip:↑…/↓…` fitted to
    the panel's width. The title names the policy group when the run has several."""

    _snapshot: spb.SanctumSnapshot | None = None

    def on_mount(self) -> None:
        self.border_title = "HEADS"
        self.show(None)

    def show(self, snapshot: spb.SanctumSnapshot | None, group: str = "") -> None:
        self._snapshot = snapshot
        self.border_title = Text(f"HEADS · {group}" if group else "HEADS")
        self.update(heads_text(snapshot, self.content_size.width or None))

    def on_resize(self, _: events.Resize) -> None:
        self.update(heads_text(self._snapshot, self.content_size.width or None))
