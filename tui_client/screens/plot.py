"""Plot screen (`p`): any metric of a run over the whole run, from the Series RPC.

The list on the left holds every series name of the run; the plot shows the chosen one,
downsampled by the server (min/max per bucket: spikes stay visible) to about twice the
plot's width. `+`/`-` zoom in and out around the middle of the view, `h`/`l` (or arrows)
move it, `0` shows the whole run again. `g` overlays every policy group of the run (A/B)
instead of one, `o` adds another run (picked like `r`) and `x` removes the overlays.
Per-env series draw one line per env (the first MAX_LINES).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option
from textual_plotext import PlotextPlot

from esper.sanctum.v2 import sanctum_pb2 as spb
from tui_client.renderables.fmt import clip

#: Answers a SeriesRequest (the app's connection.series on its channel).
Fetch = Callable[[spb.SeriesRequest], Awaitable[spb.SeriesResponse]]
#: Lines drawn at most (per-env series of big runs have many).
MAX_LINES = 8
DEFAULT_METRIC = "ppo_update.kl_divergence"


@dataclass
class Line:
    label: str
    steps: list[int]
    values: list[float]


def zoomed(view: tuple[int, int] | None, total: int, factor: float,
           shift: float = 0.0) -> tuple[int, int] | None:
    """The step range after zooming by `factor` (<1 in) and moving by `shift` widths;
    None = the whole run."""
    if total <= 1:
        return None
    lo, hi = view if view is not None else (0, total - 1)
    width = max(8.0, (hi - lo + 1) * factor)
    if width >= total:
        return None
    middle = (lo + hi) / 2 + shift * (hi - lo + 1)
    lo2 = int(max(0.0, min(total - width, middle - width / 2)) + 0.5)
    return lo2, int(lo2 + width - 1)


class PlotScreen(Screen[None]):
    """One metric over the whole run, with zoom and overlays."""

    BINDINGS = [
        Binding("escape", "close", "Back", id="plot.close"),
        Binding("plus,equals_sign", "zoom(0.5)", "Zoom in", id="plot.zoom_in", key_display="+"),
        Binding("minus", "zoom(2)", "Zoom out", id="plot.zoom_out", key_display="-"),
        Binding("h,left", "pan(-0.25)", "Left", id="plot.left", show=False),
        Binding("l,right", "pan(0.25)", "Right", id="plot.right", show=False),
        Binding("0", "reset", "Whole run", id="plot.reset"),
        Binding("g", "toggle_groups", "A/B groups", id="plot.groups"),
        Binding("o", "overlay", "Overlay run", id="plot.overlay"),
        Binding("x", "clear_overlays", "No overlays", id="plot.clear"),
    ]

    def __init__(self, run_id: str, fetch: Fetch, metric: str = DEFAULT_METRIC,
                 group_id: str = "",
                 pick_run: Callable[[Callable[[str | None], None]], object] | None = None
                 ) -> None:
        super().__init__()
        self.run_id = run_id
        self.fetch = fetch
        self.metric = metric
        self.group_id = group_id
        self.pick_run = pick_run
        self.all_groups = False
        self.overlays: list[str] = []
        self.view: tuple[int, int] | None = None
        self.total = 0
        self.lines: list[Line] = []
        self.loads = 0

    def compose(self) -> ComposeResult:
        yield Static("", id="plot-title")
        with Horizontal(id="plot-body"):
            yield OptionList(id="plot-metrics")
            yield PlotextPlot(id="plot")
        yield Footer()

    def on_mount(self) -> None:
        self._list_metrics()

    # -- data ----------------------------------------------------------------------------
    @work(exclusive=True, group="plot-metrics", exit_on_error=False)
    async def _list_metrics(self) -> None:
        try:
            reply = await self.fetch(spb.SeriesRequest(run_id=self.run_id))
        except Exception as exc:  # noqa: BLE001 - shown, the screen stays
            self._title(f"cannot list the run's series: {clip(str(exc), 200)}")
            return
        names = sorted({d.key.name for d in reply.series})
        options = self.query_one("#plot-metrics", OptionList)
        options.clear_options()
        options.add_options([Option(n, id=n) for n in names])
        if names and self.metric not in names:
            self.metric = names[0]
        if self.metric in names:
            options.highlighted = names.index(self.metric)
        self.reload()

    def _request(self, run_id: str) -> spb.SeriesRequest:
        width = max(40, self.query_one(PlotextPlot).size.width)
        sel = spb.SeriesSelector(name=self.metric)
        if not self.all_groups and run_id == self.run_id:
            sel.group_id = self.group_id
        req = spb.SeriesRequest(run_id=run_id, series=[sel], max_points=min(4000, 2 * width))
        if self.view is not None:
            req.step_from, req.step_to = self.view
        return req

    def reload(self) -> None:
        self._load()

    @work(exclusive=True, group="plot-load", exit_on_error=False)
    async def _load(self) -> None:
        lines: list[Line] = []
        total = 0
        shown = 0
        for run_id in (self.run_id, *self.overlays):
            try:
                reply = await self.fetch(self._request(run_id))
            except Exception as exc:  # noqa: BLE001 - shown, the screen stays
                self._title(f"{run_id}: {clip(str(exc), 200)}")
                return
            for data in reply.series:
                shown += 1
                if run_id == self.run_id:
                    total = max(total, data.total_points)
                if len(lines) < MAX_LINES:
                    lines.append(Line(_label(run_id, data.key, len(self.overlays) > 0),
                                      list(data.steps), list(data.values)))
        self.total, self.lines = total, lines
        self.loads += 1
        self._draw(shown)

    def _draw(self, shown: int) -> None:
        plot = self.query_one(PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.title(self.metric)
        for line in self.lines:
            if line.steps:
                plt.plot(line.steps, line.values, label=line.label, marker="braille")
        plt.xlabel("step")
        plot.refresh()
        lo, hi = self.view if self.view is not None else (0, max(0, self.total - 1))
        more = f", {len(self.lines)} of {shown} lines" if shown > len(self.lines) else ""
        runs = " + ".join((self.run_id, *self.overlays))
        what = "all groups" if self.all_groups else (f"group {self.group_id}"
                                                      if self.group_id else "")
        self._title(f"{clip(self.metric, 60)} · {clip(runs, 80)}{' · ' + what if what else ''}"
                    f" · steps {lo:,}–{hi:,} of {self.total:,}{more}")

    def _title(self, text: str) -> None:
        self.query_one("#plot-title", Static).update(text)

    # -- actions -------------------------------------------------------------------------
    @on(OptionList.OptionSelected, "#plot-metrics")
    def _metric_chosen(self, event: OptionList.OptionSelected) -> None:
        if event.option.id is not None:
            self.metric = event.option.id
            self.view = None
            self.reload()

    def action_zoom(self, factor: float) -> None:
        self.view = zoomed(self.view, self.total, factor)
        self.reload()

    def action_pan(self, shift: float) -> None:
        if self.view is not None:
            self.view = zoomed(self.view, self.total, 1.0, shift)
            self.reload()

    def action_reset(self) -> None:
        self.view = None
        self.reload()

    def action_toggle_groups(self) -> None:
        self.all_groups = not self.all_groups
        self.reload()

    def action_overlay(self) -> None:
        if self.pick_run is None:
            self.notify("No server to list runs from.")
            return

        def chosen(run_id: str | None) -> None:
            if run_id and run_id != self.run_id and run_id not in self.overlays:
                self.overlays.append(run_id)
                self.reload()

        self.pick_run(chosen)

    def action_clear_overlays(self) -> None:
        self.overlays.clear()
        self.reload()

    def action_close(self) -> None:
        self.dismiss(None)


def _label(run_id: str, key: spb.SeriesKey, with_run: bool) -> str:
    parts = [clip(run_id, 24)] if with_run else []
    if key.group_id:
        parts.append(f"group {clip(key.group_id, 16)}")
    if key.HasField("env_id"):
        parts.append(f"env {key.env_id}")
    return " ".join(parts) or clip(key.name, 40)
