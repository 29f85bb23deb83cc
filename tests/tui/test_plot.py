"""The plot screen and the run picker's search, driven by Textual's pilot against a real
sanctum: a metric over the whole run (its spike drawn), zoom, A/B groups, a second run."""

from __future__ import annotations

import asyncio

from textual.widgets import Input, OptionList

from testkit import ThreadedSanctum, build_run_events
from testkit.events import Producer
from tests.tui.helpers import wait_for
from tui_client.app import EsperTui
from tui_client.config import TuiOptions
from tui_client.screens.plot import PlotScreen, zoomed
from tui_client.screens.run_picker import RunPickerScreen, parse_query

KL = "ppo_update.kl_divergence"


def ab_run(run_id: str, n: int = 400, spike_at: int = 250) -> list:
    p = Producer(run_id)
    p.started()
    for i in range(n):
        p.ppo(group_id="A", kl_divergence=0.5 if i == spike_at else 0.01, update_index=i + 1)
        p.ppo(group_id="B", kl_divergence=0.02, update_index=i + 1)
    return p.events


async def test_plot_a_metric_zoom_groups_and_overlay() -> None:
    with ThreadedSanctum() as server:
        await asyncio.to_thread(server.ingest, ab_run("ab"), 200)
        await asyncio.to_thread(server.ingest, build_run_events("other", n_batches=2))
        app = EsperTui(TuiOptions(server=server.address, run="ab", max_hz=10.0))
        async with app.run_test(size=(160, 45)) as pilot:
            await wait_for(pilot, lambda: app.snapshot is not None, what="the run")
            await pilot.press("p")
            await wait_for(pilot, lambda: isinstance(app.screen, PlotScreen), what="plot")
            plot = app.screen
            assert isinstance(plot, PlotScreen)
            await wait_for(pilot, lambda: plot.loads >= 1, what="the first plot")
            assert plot.metric == KL and plot.total == 400
            (line,) = plot.lines
            assert line.label == "group A" and max(line.values) == 0.5
            assert line.steps[line.values.index(0.5)] == 250
            assert KL in str(plot.query_one("#plot-title").render())

            await pilot.press("plus")
            await wait_for(pilot, lambda: plot.loads >= 2, what="zoomed in")
            assert plot.view == (100, 299)
            assert plot.lines[0].steps[0] == 100 and plot.lines[0].steps[-1] == 299
            await pilot.press("0", "g")
            await wait_for(pilot, lambda: len(plot.lines) == 2, what="both groups")
            assert plot.view is None
            assert sorted(x.label for x in plot.lines) == ["group A", "group B"]

            await pilot.press("o")
            await wait_for(pilot, lambda: isinstance(app.screen, RunPickerScreen),
                           what="the run picker")
            await pilot.press("slash")
            await pilot.press(*"other")
            picker = app.screen
            await wait_for(pilot, lambda: picker.query_one(OptionList).option_count == 1,
                           what="the search result")
            assert picker.query_one(Input).value == "other"
            await pilot.press("enter", "enter")
            await wait_for(pilot, lambda: plot.overlays == ["other"] and any(
                x.label.startswith("other") for x in plot.lines), what="the overlay")
            await pilot.press("escape")
            await wait_for(pilot, lambda: not isinstance(app.screen, PlotScreen),
                           what="back to the dashboard")


def test_zoom_and_query_helpers() -> None:
    assert zoomed(None, 1000, 0.5) == (250, 749)
    assert zoomed((250, 749), 1000, 1.0, 0.25) == (375, 874)
    assert zoomed((900, 999), 1000, 1.0, 1.0) == (900, 999)  # stops at the end
    assert zoomed((250, 749), 1000, 4) is None  # wider than the run: the whole run
    assert parse_query("alpha status:failed") == ("alpha", [4])
    assert parse_query("status:bogus x") == ("status:bogus x", [])
