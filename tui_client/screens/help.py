"""`?` help screen: every key binding of the app and the screen below, with its description."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

INTRO = (
    "esper-tui watches one run of a sanctum server live.\n"
    "Unknown values show as —, never as 0. Ctrl+P opens the command palette."
)


class HelpScreen(ModalScreen[None]):
    """Lists the bindings; Escape, q or ? closes it."""

    BINDINGS = [
        Binding("escape,q,question_mark", "dismiss", "Close help", id="help.close"),
    ]

    def __init__(self, bindings: list[tuple[str, str]]) -> None:
        super().__init__()
        self._keys = bindings

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=True, header_style="bold")
        table.add_column("Key", style="bold cyan")
        table.add_column("Action")
        for key, description in self._keys:
            table.add_row(key, description)
        with VerticalScroll(id="help-body") as body:
            body.border_title = "HELP"
            yield Static(INTRO, id="help-intro")
            yield Static(table, id="help-keys")

    def action_dismiss(self, result: None = None) -> None:  # type: ignore[override]
        self.dismiss(result)
