"""`?` help screen: every key binding of the app and the screen below, with its description."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui_client.renderables.header import badge

INTRO = (
    "esper-tui watches one run of a sanctum server live.\n"
    "Unknown values show as —, never as 0. Ctrl+P opens the command palette."
)


#: Keys shown on the help screen beyond the bindings (handled by Textual itself).
BUILTIN_KEYS = [
    ("tab / shift+tab", "Next / previous panel (its tab on small terminals)"),
    ("ctrl+p", "Command palette"),
]


def key_rows(bindings: list[Binding]) -> list[tuple[str, str]]:
    """(key, what it does) for the app's bindings; the nine env keys as one row."""
    rows = [(b.key_display or b.key, b.description) for b in bindings
            if not (b.id or "").startswith("focus_env_")]
    return [*rows, ("1 … 9", "Focus env #N (row N)"), *BUILTIN_KEYS]


#: What each header badge means (the badges themselves are drawn by renderables.header).
BADGE_MEANINGS = [
    ("LIVE", "an event arrived in the last 2 s"),
    ("SLOW", "the last event is 2–5 s old"),
    ("STALE", "no event for 5 s or more: the trainer is silent (busy, stuck or gone)"),
    ("DONE", "the run completed every episode"),
    ("STOPPED", "the run ended early on request (Ctrl-C, SIGTERM); the reason is below it"),
    ("FAILED", "training raised an error; the reason is below it"),
    ("connecting", "first connection to sanctum in progress"),
    ("disconnected", "sanctum is unreachable; the reason is in the header, retrying"),
    ("error", "sanctum refused us (token, permission); the reason is in the header"),
]


class HelpScreen(ModalScreen[None]):
    """Lists the bindings, what the badges mean and the connection state; Escape, q or ?
    closes it."""

    BINDINGS = [
        Binding("escape,q,question_mark", "dismiss", "Close help", id="help.close"),
    ]

    def __init__(self, bindings: list[tuple[str, str]], connection: str = "") -> None:
        super().__init__()
        self._keys = bindings
        self._connection = connection

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=True, header_style="bold")
        table.add_column("Key", style="bold cyan")
        table.add_column("Action")
        for key, description in self._keys:
            table.add_row(key, description)
        badges = Table(box=None, show_header=True, header_style="bold")
        badges.add_column("Badge")
        badges.add_column("Means")
        for key, meaning in BADGE_MEANINGS:
            badges.add_row(badge(key, None), meaning)
        with VerticalScroll(id="help-body") as body:
            body.border_title = "HELP"
            yield Static(INTRO, id="help-intro")
            if self._connection:
                yield Static(self._connection, id="help-connection")
            yield Static(table, id="help-keys")
            yield Static(badges, id="help-badges")

    def action_dismiss(self, result: None = None) -> None:  # type: ignore[override]  # no result
        self.dismiss(result)
