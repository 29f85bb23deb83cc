"""The dashboard says what an oversized snapshot left out, and shows each decision once."""

from __future__ import annotations

import asyncio

from esper.telemetry.v1 import telemetry_pb2 as tpb
from sanctum_svc.aggregator import RunAggregator
from testkit import ThreadedSanctum
from tests.sanctum.test_snapshot_budget import giant_state, inject
from tests.tui.helpers import screen_text, wait_for
from tui_client.app import EsperTui
from tui_client.config import TuiOptions
from tui_client.renderables.decisions import env_decisions, group_feed
from tui_client.renderables.groups import groups


async def test_trimmed_snapshot_is_announced() -> None:
    with ThreadedSanctum() as server:
        await asyncio.to_thread(inject, server, "giant", *giant_state("giant"))
        app = EsperTui(TuiOptions(server=server.address, run="giant", max_hz=10.0))
        async with app.run_test(size=(160, 50)) as pilot:
            await wait_for(pilot, lambda: app.snapshot is not None, timeout=30, what="snapshot")
            await wait_for(pilot, lambda: "✂ partial snapshot" in screen_text(app),
                           what="the partial-snapshot badge")
            text = screen_text(app)
            assert "✂ over the server's 1.0 MiB snapshot" in text
            assert "20,000 producers" in text and "200 log lines" in text


def _card(group: str, env_id: int, seq: int) -> tpb.TelemetryEvent:
    return tpb.TelemetryEvent(
        run_id="r", producer_id="p", seq=seq, group_id=group, env_id=env_id,
        event_type=tpb.EVENT_TYPE_ANALYTICS_SNAPSHOT,
        analytics_snapshot=tpb.AnalyticsSnapshotPayload(decision=tpb.DecisionCard(
            env_id=env_id, op=tpb.LIFECYCLE_OP_WAIT, epoch=seq)))


def test_group_feed_ends_with_its_last_decision() -> None:
    """The server sends a group's last card only in its PolicyGroup: the feed and the env
    detail still end with it, once."""
    run = RunAggregator("r")
    run.apply_many([_card(g, 0, seq) for seq, g in enumerate("ABABA", start=1)], 1000.0)
    snap = run.snapshot(1001.0)
    a, b = groups(snap)
    assert [c.epoch for c in group_feed(snap, a)] == [1, 3, 5]
    assert [c.epoch for c in group_feed(snap, b)] == [2, 4]
    detail = env_decisions(group_feed(snap, b), 0, group_id="B").plain
    assert detail.startswith("env 0 · epoch 4")  # B's newest, as the card
    # An older server repeated the last card in the feed: it is still shown once.
    snap.decisions.recent.append(a.last_decision)
    assert [c.epoch for c in group_feed(snap, a)] == [1, 3, 5]


def test_picker_says_when_the_server_holds_more_runs() -> None:
    from tui_client.screens.run_picker import picker_hint

    assert picker_hint(200, 30_000).startswith("30,000 runs on this server; the 200 most")
    assert picker_hint(3, 3).startswith("3 runs on this server. Pick one")
