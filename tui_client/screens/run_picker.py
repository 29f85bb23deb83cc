"""Run picker: shown when the server holds several runs and `--run` was not given, or on `r`.

Each row puts a run's key figures side by side (episodes, rolling accuracy, average reward,
liveness, status). `/` focuses the search box: words match the run id, task or a tag
(ListRuns' filter, on the server), `status:failed` (running, completed, stopped, failed)
keeps only runs in that status.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper_common.derived import status_name
from esper_common.presentation import num
from tui_client.renderables.fmt import DASH, clip, enum_name
from tui_client.state import ENDED_KEYS

#: Lists the runs matching (filter text, statuses) from the server.
Search = Callable[[str, list[int]], Awaitable[spb.ListRunsResponse]]


def run_label(run: spb.RunSummary) -> Text:
    """`run-a  cifar10  ep 12/100  acc 0.612  reward 1.23  LIVE  running`, or `...  stopped
    (interrupted)`: a run that ended shows no LIVE/SLOW/STALE, as the header's badge does
    not (its silence is expected). Plain text: ids are never read as markup; long ones are
    clipped, unknown states "?N", figures not measured "—"."""
    live = ("" if run.status in ENDED_KEYS
            else enum_name(spb.Liveness, run.liveness, "LIVENESS_") + "  ")
    status = status_name(run.status)
    if run.status_reason:
        status += f" ({clip(run.status_reason, 80)})"
    total = run.total_episodes or DASH
    acc = num(run.rolling_accuracy if run.HasField("rolling_accuracy") else None)
    reward = num(run.avg_reward if run.HasField("avg_reward") else None, ".2f")
    tags = "  #" + " #".join(clip(t, 24) for t in run.tags[:3]) if run.tags else ""
    return Text(f"{clip(run.run_id)}  {clip(run.task, 40) or DASH}  "
                f"ep {run.episodes_completed}/{total}  acc {acc}  reward {reward}  "
                f"{live}{status}{tags}")


def parse_query(text: str) -> tuple[str, list[int]]:
    """Search text -> (filter, statuses): `status:NAME` words pick statuses, the rest is the
    substring matched against id, task and tags."""
    words, statuses = [], []
    for word in text.split():
        key, sep, value = word.partition(":")
        if sep and key.lower() == "status":
            try:
                statuses.append(spb.RunStatus.Value(f"RUN_STATUS_{value.upper()}"))
                continue
            except ValueError:
                pass
        words.append(word)
    return " ".join(words), statuses


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
        Binding("slash", "search", "Search", id="run_picker.search", key_display="/"),
    ]

    def __init__(self, runs: list[spb.RunSummary], total: int = 0,
                 search: Search | None = None) -> None:
        super().__init__()
        self._total = total
        self._search = search
        self._runs = _unique(runs)
        self._all = self._runs

    def compose(self) -> ComposeResult:
        with Vertical(id="run-picker") as box:
            box.border_title = "RUNS"
            yield Static(picker_hint(len(self._runs), self._total), id="run-picker-hint")
            yield Input(placeholder="/ search: name, task or tag; status:failed",
                        id="run-search")
            yield OptionList(*(Option(run_label(r), id=r.run_id) for r in self._runs))

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def action_search(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted, "#run-search")
    def _search_done(self) -> None:
        self.query_one(OptionList).focus()

    @on(Input.Changed, "#run-search")
    def _search_changed(self, event: Input.Changed) -> None:
        self._refresh_list(event.value)

    @work(exclusive=True, group="run-search", exit_on_error=False)
    async def _refresh_list(self, text: str) -> None:
        needle, statuses = parse_query(text)
        if self._search is not None:
            try:
                reply = await self._search(needle, statuses)
            except Exception as exc:  # noqa: BLE001 - say why, keep the list
                self.notify(f"Search failed: {clip(str(exc), 200)}", severity="error",
                            markup=False)
                return
            runs, total = _unique(reply.runs), reply.total_size
        else:  # no server to ask: filter what was listed
            folded = needle.casefold()
            runs = [r for r in self._all if (not statuses or r.status in statuses)
                    and any(folded in h.casefold() for h in (r.run_id, r.task, *r.tags))]
            total = len(runs)
        self._runs = runs
        options = self.query_one(OptionList)
        options.clear_options()
        options.add_options([Option(run_label(r), id=r.run_id) for r in runs])
        if runs:
            options.highlighted = 0
        hint = picker_hint(len(runs), total) if runs else "No run matches the search."
        self.query_one("#run-picker-hint", Static).update(hint)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_cursor_down(self) -> None:
        self.query_one(OptionList).action_cursor_down()

    def action_cursor_up(self) -> None:
        self.query_one(OptionList).action_cursor_up()


def _unique(runs: Iterable[spb.RunSummary]) -> list[spb.RunSummary]:
    """One row per run id (option ids must be unique; a server could repeat a run)."""
    return list({run.run_id: run for run in reversed(list(runs))}.values())[::-1]
