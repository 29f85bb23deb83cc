"""Run picker: shown when the server holds several runs and `--run` was not given."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper_common.derived import status_name


def run_label(run: spb.RunSummary) -> str:
    """`run-a  cifar10  ep 12/100  LIVE  running`, or `... STALE  stopped (interrupted)`."""
    live = spb.Liveness.Name(run.liveness).removeprefix("LIVENESS_")
    status = status_name(run.status)
    if run.status_reason:
        status += f" ({run.status_reason})"
    total = run.total_episodes or "—"
    return f"{run.run_id}  {run.task or '—'}  ep {run.episodes_completed}/{total}  {live}  {status}"


def picker_hint(n_runs: int) -> str:
    if n_runs == 1:
        return "One run on this server. Watch it (Enter), or Escape to keep the current view:"
    return f"{n_runs} runs on this server. Pick one (Enter):"


class RunPickerScreen(ModalScreen[str | None]):
    """Choose a run with j/k or arrows and Enter; Escape keeps the current one."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="run_picker.cancel"),
        Binding("j", "cursor_down", "Down", id="run_picker.down", show=False),
        Binding("k", "cursor_up", "Up", id="run_picker.up", show=False),
    ]

    def __init__(self, runs: list[spb.RunSummary]) -> None:
        super().__init__()
        self._runs = runs

    def compose(self) -> ComposeResult:
        with Vertical(id="run-picker") as box:
            box.border_title = "RUNS"
            yield Static(picker_hint(len(self._runs)), id="run-picker-hint")
            yield OptionList(*(Option(run_label(r), id=r.run_id) for r in self._runs))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_cursor_down(self) -> None:
        self.query_one(OptionList).action_cursor_down()

    def action_cursor_up(self) -> None:
        self.query_one(OptionList).action_cursor_up()
