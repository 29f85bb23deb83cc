"""Heads panel (seed Task 6.2): per-head entropy and grad norm, gradient-flow footer."""

from __future__ import annotations

from textual.widgets import Static

from esper.sanctum.v1 import sanctum_pb2 as spb
from tui_client.renderables.heads import heads_text


class HeadsPanel(Static, can_focus=True):
    """Bars per action head; footer `Flow: CV:… Dead:… Exploding:… Clip:↑…/↓…`."""

    def on_mount(self) -> None:
        self.border_title = "HEADS"
        self.show(None)

    def show(self, snapshot: spb.SanctumSnapshot | None) -> None:
        self.update(heads_text(snapshot))
