"""Pilot tests of the app's keys and screens, fed snapshots directly (no network)."""

from __future__ import annotations

from esper.telemetry.v1 import telemetry_pb2 as tpb
from testkit.snapshots import NOW, sample_snapshot
from tests.tui.helpers import screen_text, wait_for
from tui_client.app import EsperTui
from tui_client.messages import SnapshotReceived
from tui_client.screens.env_detail import EnvDetailScreen
from tui_client.screens.help import HelpScreen
from tui_client.widgets.env_table import EnvTable


def _app() -> EsperTui:
    return EsperTui(clock=lambda: NOW)


async def test_help_screen_lists_every_binding() -> None:
    app = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        app.apply_snapshot(sample_snapshot())
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await wait_for(pilot, lambda: "Command palette" in screen_text(app), what="help text")
        text = screen_text(app)
        for desc in ("Quit", "Help", "Next env", "Prev env", "Env detail", "Runs", "Focus env"):
            assert desc in text, desc
        assert "Command palette" in text
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


async def test_every_binding_has_id_and_description() -> None:
    for binding in EsperTui.BINDINGS:
        assert binding.id and binding.description, binding  # type: ignore[union-attr]  # Binding


async def test_jk_digits_and_enter_navigate_envs() -> None:
    app = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        app.apply_snapshot(sample_snapshot())
        await pilot.pause()
        table = app.query_one(EnvTable)
        assert table.row_count == 16 and table.cursor_row == 0
        await pilot.press("j", "j", "j")
        assert table.cursor_row == 3
        await pilot.press("k")
        assert table.cursor_row == 2
        await pilot.press("5")
        assert table.cursor_row == 4 and table.selected_env_id() == 4
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, EnvDetailScreen) and app.screen.env_id == 4
        await wait_for(pilot, lambda: "ENV 4" in screen_text(app), what="env detail")
        text = screen_text(app)
        assert "ENV 4" in text and "r0c0" in text and "accuracy" in text
        # The detail follows live updates.
        newer = sample_snapshot(version=2)
        newer.envs.envs[4].last_epoch.val_accuracy = 99.5
        app.apply_snapshot(newer)
        await pilot.pause()
        await wait_for(pilot, lambda: "accuracy 99.5" in screen_text(app), what="live detail")
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, EnvDetailScreen)


async def test_tab_moves_between_panels() -> None:
    app = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        app.apply_snapshot(sample_snapshot())
        seen = set()
        for _ in range(6):
            await pilot.press("tab")
            assert app.focused is not None
            seen.add(app.focused.id)
        assert {"heads", "ppo", "envs", "events", "delivery"} <= seen


async def test_digit_beyond_envs_is_explained_not_an_error() -> None:
    app = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        app.apply_snapshot(sample_snapshot(n_envs=2))
        await pilot.press("9")
        await pilot.pause()
        assert app.query_one(EnvTable).cursor_row == 0
        assert any("no env #9" in n.message for n in app._notifications)


async def test_q_quits() -> None:
    app = _app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


async def test_latest_snapshot_wins_between_redraws() -> None:
    app = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        for v in range(1, 51):
            app.post_message(SnapshotReceived(sample_snapshot(version=v)))
        await pilot.pause(0.5)
        assert app.snapshot is not None and app.snapshot.version == 50
        assert app.applied_versions < 50  # conflated: not one redraw per message


async def test_narrow_terminal_shows_one_panel_at_a_time() -> None:
    app = _app()
    async with app.run_test(size=(80, 24)) as pilot:
        app.apply_snapshot(sample_snapshot())
        await pilot.pause()
        assert app.screen.has_class("-narrow") and app.compact
        shown = [
            p
            for p in ("heads", "ppo", "envs", "events", "decisions", "delivery")
            if app.query_one(f"#{p}").region.height
        ]
        assert shown == ["envs"]
        text = screen_text(app)
        assert "TAMIYO [compiled]" in text and "[Mem:52%]" in text
    app = _app()
    async with app.run_test(size=(160, 50)) as pilot:
        app.apply_snapshot(sample_snapshot())
        await pilot.pause()
        assert app.screen.has_class("-wide") and not app.compact
        assert app.query_one("#heads").region.x < app.query_one("#ppo").region.x


async def test_snapshots_keep_applying_under_a_modal_screen() -> None:
    app = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        app.apply_snapshot(sample_snapshot(version=1))
        await pilot.press("question_mark")
        await pilot.pause()
        app.apply_snapshot(sample_snapshot(version=2))
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert app.snapshot is not None and app.snapshot.version == 2
        await pilot.press("escape")
        await wait_for(pilot, lambda: "TAMIYO [compiled]" in screen_text(app), what="main")


async def test_a_cell_that_grows_is_shown_whole_at_once() -> None:
    """Regression: a slot cell going from "·" to "PRUNED lora" used to keep the old
    column width until DataTable's next idle re-measure, which does not invalidate its
    render cache, so a paint in between stuck at "PRUN" (seen in CI)."""
    app = _app()
    async with app.run_test(size=(140, 40)) as pilot:
        before = sample_snapshot(n_envs=2, version=1)
        for env in before.envs.envs:
            env.seeds.clear()  # every slot empty: "·" columns as narrow as their labels
        app.apply_snapshot(before)
        await pilot.pause()
        table = app.query_one(EnvTable)
        assert table.columns["r0c1"].get_render_width(table) == 4 + 2 * table.cell_padding
        after = sample_snapshot(n_envs=2, version=2)
        for env in after.envs.envs:
            env.seeds.clear()
        after.envs.envs[1].seeds["r0c1"].CopyFrom(
            tpb.SeedTelemetry(slot_id="r0c1", stage=tpb.SEED_STAGE_PRUNED, blueprint_id="lora")
        )
        app.apply_snapshot(after)
        # Synchronously, before any idle: the column is already wide enough.
        width = table.columns["r0c1"].get_render_width(table) - 2 * table.cell_padding
        assert width == len("PRUNED lora")
        await pilot.pause()
        assert "PRUNED lora" in screen_text(app)
