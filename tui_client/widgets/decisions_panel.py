"""Decision cards: the shown group's last decision and the run's recent decisions."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.reactive import reactive

from esper.sanctum.v2 import sanctum_pb2 as spb
from tui_client.renderables.decisions import group_decisions
from tui_client.renderables.groups import titled
from tui_client.widgets.bound import SnapshotView, set_title


class DecisionCards(SnapshotView):
    """The cards themselves, at the panel's width (bound to the panel's state)."""

    DEFAULT_CSS = "DecisionCards { height: auto; }"

    def draw(self) -> Text:
        return group_decisions(self.snapshot, self.group, max(20, self.content_size.width))


class DecisionsPanel(VerticalScroll, can_focus=True):
    """Last decision as a card (op, target, each head's choice and probability, value,
    reward), then the shown group's recent decisions, newest first; scrolls when it
    overflows."""

    #: The newest snapshot the app applied, and the group shown (bound to the app's).
    snapshot: reactive[spb.SanctumSnapshot | None] = reactive(
        None, always_update=True, repaint=False)
    group_id: reactive[str | None] = reactive(None, repaint=False)

    def compose(self) -> ComposeResult:
        yield DecisionCards(id="decisions-text").data_bind(
            DecisionsPanel.snapshot, DecisionsPanel.group_id)

    def on_mount(self) -> None:
        self.border_title = "DECISIONS"

    def watch_snapshot(self) -> None:
        set_title(self, Text(titled("DECISIONS", self.snapshot, self.group_id)))

    def watch_group_id(self) -> None:
        self.watch_snapshot()
