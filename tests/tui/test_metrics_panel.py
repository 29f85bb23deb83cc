"""Pilot tests of the metrics panel (the run's own `run.log()` scalars) and of the run
header's hyperparameters."""

from __future__ import annotations

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.telemetry.v1 import telemetry_pb2 as tpb
from testkit.snapshots import NOW, sample_snapshot
from tests.tui.helpers import screen_text, wait_for
from tui_client.app import EsperTui
from tui_client.renderables.metrics import EMPTY, metrics_text


def _with_metrics() -> spb.SanctumSnapshot:
    snap = sample_snapshot()
    section = snap.metrics
    loss = section.metrics.add(name="loss", value=0.125, step=420)
    loss.history.extend([1.0, 0.5, 0.25, 0.125])
    section.metrics.add(name="eval_acc", group_id="B", env_id=3, value=0.875)
    section.refused = 2
    snap.run.config.hyperparameters.extend([
        tpb.Hyperparameter(name="batch_size", value="64"),
        tpb.Hyperparameter(name="optimizer", value="adamw"),
        tpb.Hyperparameter(name="notes", value="x" * 500)])
    return snap


def _line(text: str, needle: str) -> str:
    return next(line for line in text.splitlines() if needle in line)


async def test_metrics_tab_shows_name_value_step_and_sparkline_at_80x24() -> None:
    app = EsperTui(clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        app.apply_snapshot(_with_metrics())
        await pilot.pause()
        await pilot.click("#tab-metrics")
        await wait_for(pilot, lambda: "loss" in screen_text(app), what="metrics tab")
        text = screen_text(app)
        line = _line(text, "loss")
        assert "0.125" in line and "@420" in line and "█▄▂▁" in line
        eval_line = _line(text, "eval_acc@B/env3")
        assert "0.875" in eval_line and "—" in eval_line  # no step, no history: unknown
        assert "refused 2 values (name cap)" in text
        # The header shows the hyperparameters, clipped to the line.
        hp = _line(text, "hp batch_size=64 optimizer=adamw notes=")
        assert hp.rstrip().endswith("…") and len(hp.strip()) <= 80


async def test_metrics_panel_joins_the_grid_only_once_the_run_logged_some() -> None:
    app = EsperTui(clock=lambda: NOW)
    async with app.run_test(size=(120, 40)) as pilot:
        app.apply_snapshot(sample_snapshot())
        await pilot.pause()
        assert not app.query_one("#metrics").display
        assert "METRICS" not in screen_text(app)
        app.apply_snapshot(_with_metrics())
        await wait_for(pilot, lambda: "METRICS" in screen_text(app), what="metrics panel")
        assert "0.125" in _line(screen_text(app), "│ loss ")


async def test_metrics_tab_says_so_when_the_run_logged_none() -> None:
    app = EsperTui(clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        app.apply_snapshot(sample_snapshot())
        await pilot.pause()
        await pilot.click("#tab-metrics")
        await wait_for(pilot, lambda: "no metrics logged" in screen_text(app), what="empty")


def test_metrics_text_fits_narrow_widths_and_unknown_is_a_dash() -> None:
    assert metrics_text(None, 40).plain == "—"
    assert metrics_text(spb.SanctumSnapshot(), 40).plain == EMPTY
    text = metrics_text(_with_metrics(), 40).plain
    assert all(len(line) <= 40 for line in text.splitlines())
