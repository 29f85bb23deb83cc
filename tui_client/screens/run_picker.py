"""Run picker: shown when the server holds several runs and `--run` was not given."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper_common.derived import status_name
from tui_client.renderables.fmt import DASH, clip, enum_name


def run_label(run: spb.RunSummary) -> Text:
    """`run-a  cifar10  ep 12/100  LIVE  running`, or `... STALE  stopped (interrupted)`
    (plain text: ids are never read as markup; long ones are clipped, unknown states "?N")."""
    live = enum_name(spb.Liveness, run.liveness, "LIVENESS_")
    status = status_name(run.status)
    if run.status_reason:
        status += f" ({clip(run.status_reason, 80)})"
    total = run.total_episodes or DASH
    return Text(f"{clip(run.run_id)}  {clip(run.task, 40) or DASH}  "
                f"ep {run.episodes_completed}/{total}  {live}  {status}")


def picker_hint(shown: int, total: int = 0) -> str:
    """The line above the list; says when the server holds more runs than are listed."""
    if total > shown:
        return (f"{total:,} runs on this server; the {shown:,} most recently active are "
                "listed. Pick one (Enter), or start esper-tui with --run RUN_ID:")
    if shown == 1:
        return "One run on this server. Watch it (Enter), or Escape to keep the current view:"
    return f"{shown} runs on this server. Pick one (Enter):"


class RunPickerScreen(ModalScreen[str | None]):
    """Choose a run with j/k or arrows and Enter; Escape keeps the current one."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="run_picker.cancel"),
        Binding("j", "cursor_down", "Down", id="run_picker.down", show=False),
        Binding("k", "cursor_up", "Up", id="run_picker.up", show=False),
    ]

    def __init__(self, runs: list[spb.RunSummary], total: int = 0) -> None:
        super().__init__()
        self._total = total
        # One row per run id (option ids must be unique; a server could repeat a run).
        self._runs = list({run.run_id: run for run in reversed(runs)}.values())[::-1]

    def compose(self) -> ComposeResult:
        with Vertical(id="run-picker") as box:
            box.border_title = "RUNS"
            yield Static(picker_hint(len(self._runs), self._total), id="run-picker-hint")
            yield OptionList(*(Option(run_label(r), id=r.run_id) for r in self._runs))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_cursor_down(self) -> None:
        self.query_one(OptionList).action_cursor_down()

    def action_cursor_up(self) -> None:
        self.query_one(OptionList).action_cursor_up()
