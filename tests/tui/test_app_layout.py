"""Pilot tests of layouts (tabs on small terminals, grid on large), A/B groups, the DONE
state, decision cards and the command palette, fed snapshots directly (no network)."""

from __future__ import annotations

from textual.command import CommandPalette

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.telemetry.v1 import telemetry_pb2 as tpb
from testkit.snapshots import NOW, sample_snapshot
from tests.tui.helpers import screen_text, wait_for
from tui_client.app import EsperTui
from tui_client.messages import HeartbeatReceived
from tui_client.renderables.decisions import env_decisions
from tui_client.screens.env_detail import EnvDetailScreen
from tui_client.widgets.env_table import EnvTable
from tui_client.widgets.event_log import EventLog
from tui_client.widgets.status_banner import StatusBanner


def _app() -> EsperTui:
    return EsperTui(clock=lambda: NOW)


def _line(text: str, needle: str) -> str:
    return next(line for line in text.splitlines() if needle in line)


async def test_small_terminal_shows_panels_as_tabs() -> None:
    app = _app()
    async with app.run_test(size=(80, 24)) as pilot:
        app.apply_snapshot(sample_snapshot())
        await pilot.pause()
        assert app.compact and app.screen.has_class("-narrow")
        assert app.query_one("#panel-tabs").display
        # The env table is on screen at once (it was below the fold before).
        text = screen_text(app)
        assert "PRUNED lora" in text and "TAMIYO [compiled]" in text and "[Mem:52%]" in text
        assert app.query_one("#envs").region.height > 10
        assert app.query_one("#heads").region.height == 0  # hidden behind its tab
        await pilot.press("tab")  # envs -> decisions
        await pilot.pause()
        assert app.current_panel == "decisions" and app.focused is app.query_one("#decisions")
        await wait_for(pilot, lambda: "op=ADVANCE 71%" in screen_text(app), what="decision")
        assert app.query_one("#envs").region.height == 0
        await pilot.press("shift+tab", "shift+tab", "shift+tab")  # -> envs -> ppo -> heads
        await pilot.pause()
        assert app.current_panel == "heads"
        seed_spaced = "─ Flow: CV:0.42 stable   Dead:0/12"  # the seed's spacing at 80 cols
        await wait_for(pilot, lambda: seed_spaced in screen_text(app), what="heads")
        flow = _line(screen_text(app), "Flow:")
        assert "Exploding:0/12" in flow and "Clip:↑10%/↓5%" in flow  # one line at 80 cols
        # A key that acts on the env table brings it forward.
        await pilot.press("5")
        await pilot.pause()
        assert app.current_panel == "envs" and app.query_one(EnvTable).cursor_row == 4
        await wait_for(pilot, lambda: "PRUNED lora" in screen_text(app), what="env tab")
        # Clicking a tab shows its panel.
        await pilot.click("#tab-delivery")
        await pilot.pause()
        assert app.current_panel == "delivery"
        await wait_for(pilot, lambda: "host CPU 55%" in screen_text(app), what="vitals")
        assert "GPU 4.9/8.0 GB 63%" in screen_text(app)


async def test_short_wide_terminal_is_compact_too() -> None:
    app = _app()
    async with app.run_test(size=(140, 24)) as pilot:
        app.apply_snapshot(sample_snapshot())
        await pilot.pause()
        assert app.compact and app.screen.has_class("-short")
        assert "PRUNED lora" in screen_text(app)


async def test_grid_at_120_fits_the_heads_footer_on_one_line() -> None:
    app = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        app.apply_snapshot(sample_snapshot())
        await pilot.pause()
        assert not app.compact and not app.query_one("#panel-tabs").display
        heads, ppo = app.query_one("#heads"), app.query_one("#ppo")
        assert heads.region.x < ppo.region.x  # side by side
        text = screen_text(app)
        flow = _line(text, "─ Flow:")  # a half-width panel: the narrow tier, on one line
        assert "CV:0.42" in flow and "Expl:0/12" in flow and "Clip:↑10%/↓5%" in flow
        assert "DECISIONS" in text and "op=ADVANCE 71%" in text
        assert "host CPU 55%" in text
        for panel in ("envs", "events", "decisions", "delivery"):
            assert app.query_one(f"#{panel}").region.height >= 8, panel


async def test_wide_terminal_puts_decisions_beside_the_event_log() -> None:
    app = _app()
    async with app.run_test(size=(160, 50)) as pilot:
        app.apply_snapshot(sample_snapshot())
        await pilot.pause()
        assert app.screen.has_class("-wide")
        events, decisions = app.query_one("#events"), app.query_one("#decisions")
        assert events.region.y == decisions.region.y and events.region.x < decisions.region.x
        assert events.region.height >= 12
        text = screen_text(app)
        # Event lines are not wrapped at this width.
        assert "11:59:41 WRN SEED_PRUNED      env11  slot r0c2 lora" in text
        assert "env 4  FOSSILIZE r0c0 conv_light  V+1.40 R+0.040" in text


async def test_g_cycles_policy_groups() -> None:
    app = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        app.apply_snapshot(sample_snapshot(n_envs=2))
        await pilot.pause()
        assert app.check_action("cycle_group", ()) is False  # one group: nothing to cycle
        app.apply_snapshot(sample_snapshot(n_envs=2, n_groups=2))
        await pilot.pause()
        assert app.check_action("cycle_group", ()) is True
        text = screen_text(app)
        assert "TAMIYO [compiled] · group A (1/2)" in text and "HEADS · group A" in text
        assert "● OK" in text and "CV:0.42" in text
        await pilot.press("g")
        await wait_for(pilot, lambda: "group B (2/2)" in screen_text(app), what="group B")
        text = screen_text(app)
        assert "PPO HEALTH · group B" in text and "DECISIONS · group B" in text
        assert "✖ CRITICAL" in text and "KL 0.500" in text  # B's own state
        assert "CV:—" in _line(text, "Flow:")
        assert app.query_one(StatusBanner).has_class("status-critical")
        # B stays shown across updates, then `g` wraps around to A.
        app.apply_snapshot(sample_snapshot(n_envs=2, n_groups=2, version=2))
        await pilot.pause()
        assert "group B (2/2)" in screen_text(app)
        await pilot.press("g")
        await wait_for(pilot, lambda: "group A (1/2)" in screen_text(app), what="group A")


async def test_decision_feed_and_env_detail_follow_the_shown_group() -> None:
    """A/B groups reuse env ids: group A's panel must not list B's decision about env 0."""
    snap = sample_snapshot(n_envs=2, n_groups=2)
    for env, group in zip(snap.envs.envs, "AB", strict=True):
        env.env_id, env.group_id = 0, group  # env 0 of group A and env 0 of group B
    recent = snap.decisions.recent
    del recent[:]
    for group, op, value in (("A", tpb.LIFECYCLE_OP_GERMINATE, 1.25),
                             ("B", tpb.LIFECYCLE_OP_PRUNE, 2.75)):
        card = recent.add(env_id=0, op=op, value_estimate=value, group_id=group)
        card.reward = 0.5
    a, b = snap.tamiyo.groups
    a.last_decision.CopyFrom(recent[0])
    b.last_decision.CopyFrom(recent[1])
    app = _app()
    async with app.run_test(size=(140, 45)) as pilot:
        app.apply_snapshot(snap)
        await wait_for(pilot, lambda: "V +1.250" in screen_text(app), what="group A's card")
        assert "2.75" not in screen_text(app)  # neither as a card nor in the feed
        await pilot.press("g")
        await wait_for(pilot, lambda: "V +2.750" in screen_text(app), what="group B's card")
        assert "1.25" not in screen_text(app)
    # The env detail screen of env 0 in group B lists B's decision only.
    detail = env_decisions(snap.decisions.recent, 0, group_id="B").plain
    assert "PRUNE" in detail and "GERMINATE" not in detail


async def test_stopped_run_shows_stopped_not_stale_nor_completed() -> None:
    snap = sample_snapshot(n_envs=2)
    snap.run.status = spb.RUN_STATUS_STOPPED
    snap.run.completion.CopyFrom(
        tpb.TrainingCompletedPayload(
            total_episodes=240,
            final_accuracy=0.612,
            final_avg_reward=0.3,
            wall_time_s=754.0,
            status="interrupted",
        )
    )
    snap.run.seconds_since_last_event = 300.0
    app = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        app.apply_snapshot(snap)
        app.post_message(
            HeartbeatReceived(
                spb.Heartbeat(liveness=spb.LIVENESS_STALE, seconds_since_last_event=300.0)
            )
        )
        await pilot.pause()
        await wait_for(pilot, lambda: "■ STOPPED 300.0s" in screen_text(app), what="STOPPED")
        text = screen_text(app)
        assert "STALE" not in text and "COMPLETED" not in text and "DONE" not in text
        assert "■ STOPPED: interrupted  final acc 0.612" in text and "wall 12m34s" in text


async def test_env_detail_lists_that_envs_decisions() -> None:
    app = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        app.apply_snapshot(sample_snapshot())
        await pilot.press("4", "enter")  # env 3: decision 3 (PRUNE r0c2 attention)
        await pilot.pause()
        assert isinstance(app.screen, EnvDetailScreen)
        await wait_for(pilot, lambda: "DECISIONS" in screen_text(app), what="decisions")
        text = screen_text(app)
        assert "env 3 · epoch 7  PRUNE r0c2 attention" in text and "R —" in text


async def _palette_run(pilot, app: EsperTui, query: str) -> None:
    await pilot.press("ctrl+p")
    await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), what="palette")
    await pilot.press(*query)
    await wait_for(
        pilot, lambda: query in screen_text(app).split("\n", 3)[-1], what=f"hit {query!r}"
    )
    await pilot.pause(0.3)  # let the search settle on the best hit
    await pilot.press("enter")
    await wait_for(pilot, lambda: not isinstance(app.screen, CommandPalette), what="closed")


async def test_command_palette_focuses_env_and_switches_group_and_panel() -> None:
    app = _app()
    async with app.run_test(size=(80, 24)) as pilot:
        app.apply_snapshot(sample_snapshot(n_groups=2))
        await pilot.pause()
        await _palette_run(pilot, app, "Focus env 7")
        await wait_for(pilot, lambda: app.env_table.cursor_row == 7, what="env 7 selected")
        assert app.current_panel == "envs"
        await _palette_run(pilot, app, "group B")
        await wait_for(pilot, lambda: app.group_id == "B", what="group B")
        await _palette_run(pilot, app, "panel Deci")
        await wait_for(pilot, lambda: app.current_panel == "decisions", what="decisions tab")
        assert "DECISIONS · group B" in screen_text(app)


async def test_event_log_follows_newest_unless_scrolled_up() -> None:
    app = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        app.apply_snapshot(sample_snapshot())  # one big first update: still ends at the bottom
        await pilot.pause()
        log = app.query_one(EventLog)
        await wait_for(
            pilot,
            lambda: log.max_scroll_y > 0 and log.scroll_y == log.max_scroll_y,
            what="log at its newest entry",
        )
        log.scroll_home(animate=False)  # the user reads older entries
        await pilot.pause()
        app.apply_snapshot(sample_snapshot(version=2))
        await pilot.pause()
        assert log.scroll_y == 0
        log.scroll_end(animate=False)  # back at the bottom: follows again
        await pilot.pause()
        newer = sample_snapshot(version=3)
        newer.event_log.entries.add(message="the newest entry")
        app.apply_snapshot(newer)
        await wait_for(pilot, lambda: "the newest entry" in screen_text(app), what="newest")
