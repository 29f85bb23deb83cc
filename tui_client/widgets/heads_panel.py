"""Heads panel (seed Task 6.2): per-head entropy and grad norm, gradient-flow footer."""

from __future__ import annotations

from rich.text import Text

from tui_client.renderables.heads import heads_text
from tui_client.widgets.bound import SnapshotPanel


class HeadsPanel(SnapshotPanel, can_focus=True):
    """Bars per action head; footer `Flow: CV:… Dead:… Exploding:… Clip:↑…/↓…` fitted to
    the panel's width. The title names the policy group when the run has several."""

    TITLE = "HEADS"

    def draw(self) -> Text:
        return heads_text(self.snapshot, self.group, self.width)
