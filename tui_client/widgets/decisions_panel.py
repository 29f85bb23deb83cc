"""Decision cards: the shown group's last decision and the run's recent decisions."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from esper.sanctum.v1 import sanctum_pb2 as spb
from esper.telemetry.v1 import telemetry_pb2 as tpb
from tui_client.renderables.decisions import decisions_text, group_decisions


class DecisionsPanel(VerticalScroll, can_focus=True):
    """Last decision as a card (op, target, each head's choice and probability, value,
    reward), then the shown group's recent decisions, newest first; scrolls when it
    overflows."""

    _tamiyo: spb.TamiyoState | None = None
    _recent: tuple[tpb.DecisionCard, ...] = ()

    def compose(self) -> ComposeResult:
        # Held, not queried: a snapshot applied while the app shuts down (its children
        # already removed) must not raise.
        self._text = Static(decisions_text(None, []), id="decisions-text")
        yield self._text

    def on_mount(self) -> None:
        self.border_title = "DECISIONS"

    def show(
        self, tamiyo: spb.TamiyoState | None, snapshot: spb.SanctumSnapshot | None, group: str = ""
    ) -> None:
        """Draw the last decision of `tamiyo` (the group shown) and that group's part of the
        snapshot's feed (A/B groups reuse env ids, so a mixed feed would mislead)."""
        self._tamiyo = tamiyo
        self._recent = tuple(group_decisions(snapshot, tamiyo))
        self.border_title = Text(f"DECISIONS · {group}" if group else "DECISIONS")
        self._draw()

    def _draw(self) -> None:
        tamiyo = self._tamiyo
        has_last = tamiyo is not None and tamiyo.HasField("last_decision")
        last = tamiyo.last_decision if has_last else None  # type: ignore[union-attr]
        width = max(20, self.scrollable_content_region.width)
        self._text.update(decisions_text(last, self._recent, width))

    def on_resize(self, _: events.Resize) -> None:
        self._draw()
