"""Pure renderables added for decisions, vitals, completion, A/B groups and fitting text
(no App needed); absent values must read "—" or be hidden, never 0."""

from __future__ import annotations

import pytest
from rich.text import Text

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_common.derived import ended_status
from testkit.snapshots import NOW, decision, sample_snapshot
from tui_client.renderables.decisions import (
    card_text,
    decisions_text,
    env_decisions,
    feed_line,
    op_name,
)
from tui_client.renderables.delivery import delivery_text
from tui_client.renderables.envs import env_row, parse_row_key, row_key
from tui_client.renderables.fmt import pack
from tui_client.renderables.groups import group_label, group_of, groups, next_group, series
from tui_client.renderables.header import badge, completion_text, duration, header_text
from tui_client.renderables.heads import flow_footer
from tui_client.renderables.vitals import gpu_text, vitals_text
from tui_client.state import Freshness, View


def _lines_fit(text: Text, width: int) -> bool:
    return all(len(line) <= width for line in text.plain.splitlines())


# -- decision cards ------------------------------------------------------------------------
def test_card_shows_every_field_and_reward_dash_when_absent() -> None:
    card = tpb.DecisionCard(
        env_id=3,
        op=tpb.LIFECYCLE_OP_GERMINATE,
        slot_id="r0c1",
        blueprint_id="lora",
        value_estimate=1.25,
        epoch=7,
        masked_actions=4,
        heads=[
            tpb.HeadChoice(head=tpb.ACTION_HEAD_OP, action="GERMINATE", probability=0.71),
            tpb.HeadChoice(head=tpb.ACTION_HEAD_BLUEPRINT, action="lora", probability=0.4),
        ],
    )
    text = card_text(card).plain
    assert text.splitlines()[0] == "env 3 · epoch 7  GERMINATE r0c1 lora"
    assert "V +1.250  R —  masked 4" in text
    assert "op=GERMINATE 71%" in text and "blueprint=lora 40%" in text
    card.reward = 0.0  # measured zero is shown as zero
    assert "R +0.000" in card_text(card).plain


def test_op_names_and_unset_op() -> None:
    assert op_name(tpb.LIFECYCLE_OP_SET_ALPHA_TARGET) == "SET_ALPHA_TARGET"
    assert op_name(tpb.LIFECYCLE_OP_UNSPECIFIED) == "—"


def test_decisions_feed_newest_first_without_repeating_the_card() -> None:
    recent = [decision(k) for k in range(4)]
    text = decisions_text(recent[-1], recent, 80).plain
    lines = text.splitlines()
    assert lines[0].startswith("env 3 · epoch 7  PRUNE r0c2 attention")
    feed = lines[lines.index("recent") + 1 :]
    assert [line.split()[1] for line in feed] == ["2", "1", "0"]
    assert "R—" in feed[-1]  # decision 0 has no reward yet
    assert decisions_text(None, []).plain == "no decision yet"
    # No last decision for the group shown: only the feed.
    assert decisions_text(None, recent[:1]).plain.startswith("recent")


def test_env_decisions_only_that_env() -> None:
    recent = [decision(k, n_envs=3) for k in range(6)]  # envs 0,1,2,0,1,2
    text = env_decisions(recent, 1).plain
    assert text.startswith("env 1 · epoch 7  FOSSILIZE")  # k=4 is the newest for env 1
    assert "env 0" not in text and "env 2" not in text
    assert env_decisions(recent, 9).plain == "no decision yet"


def test_feed_and_pack_break_between_items_only() -> None:
    line = feed_line(decision(4), width=34)
    assert _lines_fit(line, 34) and len(line.plain.splitlines()) == 2
    assert "FOSSILIZE r0c0 conv_light" in line.plain.replace("\n", " ")
    packed = pack(["aaaa", "bbbb", "cccc"], 10, indent=1)
    assert packed.plain == "aaaa  bbbb\n cccc"
    assert pack(["aaaa", "bbbb"], None).plain == "aaaa  bbbb"


# -- vitals ---------------------------------------------------------------------------------
def test_vitals_absent_is_a_dash_not_zero() -> None:
    assert vitals_text(spb.SanctumSnapshot()).plain == "host — (no vitals yet)"
    assert vitals_text(None).plain.startswith("host —")


def test_vitals_cpu_ram_rss_and_gpu_only_when_measured() -> None:
    snap = spb.SanctumSnapshot(
        vitals=tpb.SystemVitalsPayload(
            cpu_percent=55.0, ram_used_gb=6.5, ram_total_gb=16.0, process_rss_gb=1.1
        )
    )
    assert vitals_text(snap).plain == "host CPU 55%  RAM 6.5/16.0 GB  RSS 1.10 GB  GPU —"
    snap.vitals.gpu_utilization = 63.0
    assert gpu_text(snap.vitals).plain == "GPU 63%"
    snap.vitals.gpu_memory_used_gb = 4.9
    snap.vitals.gpu_memory_total_gb = 8.0
    assert gpu_text(snap.vitals).plain == "GPU 4.9/8.0 GB 63%"
    narrow = vitals_text(snap, 24)
    assert _lines_fit(narrow, 24) and "RAM 6.5/16.0 GB" in narrow.plain


def test_vitals_pressure_styles() -> None:
    snap = spb.SanctumSnapshot(
        vitals=tpb.SystemVitalsPayload(
            cpu_percent=95.0, ram_used_gb=15.0, ram_total_gb=16.0, process_rss_gb=1.0
        )
    )
    text = vitals_text(snap)
    styles = {text.plain[s.start : s.end]: str(s.style) for s in text.spans}
    assert styles["95%"] == "red bold" and styles["15.0/16.0 GB"] == "red bold"


# -- completion and the DONE badge --------------------------------------------------------
def _completed(status: str, episodes: int = 240, wall: float = 754.0) -> spb.SanctumSnapshot:
    snap = sample_snapshot(n_envs=2)
    snap.run.status = ended_status(status)
    snap.run.completion.CopyFrom(
        tpb.TrainingCompletedPayload(
            total_episodes=episodes,
            final_accuracy=0.612,
            final_avg_reward=0.3,
            wall_time_s=wall,
            status=status,
        )
    )
    return snap


def test_completion_running_is_hidden() -> None:
    assert completion_text(sample_snapshot(n_envs=2)) is None


@pytest.mark.parametrize(
    ("status", "label", "style"),
    [
        ("completed", "■ COMPLETED", "bold blue"),
        ("interrupted", "■ STOPPED: interrupted", "bold yellow"),
        ("error: CUDA out of memory", "✖ FAILED: error: CUDA out of memory", "bold red"),
    ],
)
def test_completion_states(status: str, label: str, style: str) -> None:
    text = completion_text(_completed(status))
    assert text is not None
    assert text.plain.startswith(label)
    assert str(text.style) == style
    assert "final acc 0.612 · avg reward +0.300 · 240 episodes · wall 12m34s" in text.plain


def test_completion_before_any_episode_has_no_final_numbers() -> None:
    text = completion_text(_completed("error: boom", episodes=0, wall=0.0))
    assert text is not None
    assert "final acc — · avg reward — · 0 episodes · wall —" in text.plain
    assert "0.612" not in text.plain


def test_duration() -> None:
    assert duration(12.04) == "12.0s" and duration(754) == "12m34s"
    assert duration(3725) == "1h02m05s" and duration(None) == "—"


def test_completed_run_reads_done_not_stale() -> None:
    snap = _completed("completed")
    view = View(snap, "connected", Freshness(600.0, NOW), NOW, "x:1")
    assert view.liveness == "DONE"
    text = header_text(snap, view.liveness, view.event_age, "x:1")
    assert "■ DONE 600.0s" in text.plain and "STALE" not in text.plain
    assert "■ COMPLETED" in text.plain.splitlines()[-1]
    assert str(badge("DONE", 1.0).style) == "bold blue"  # not the red of STALE
    assert str(badge("STALE", 1.0).style) == "bold red"
    lost = View(snap, "disconnected", Freshness(600.0, NOW), NOW, "x:1")
    assert lost.liveness == "disconnected"


@pytest.mark.parametrize(("reported", "key", "label"), [
    ("interrupted", "STOPPED", "■ STOPPED: interrupted"),
    ("error: boom", "FAILED", "✖ FAILED: error: boom"),
])
def test_run_that_ended_early_reads_neither_done_nor_stale(
        reported: str, key: str, label: str) -> None:
    snap = _completed(reported)
    view = View(snap, "connected", Freshness(600.0, NOW), NOW, "x:1")
    assert view.liveness == key
    text = header_text(snap, view.liveness, view.event_age, "x:1").plain
    assert "DONE" not in text and "STALE" not in text and "COMPLETED" not in text
    assert text.splitlines()[-1].startswith(label)


def test_header_keeps_the_reason_the_connection_is_down() -> None:
    why = "TLS: sanctum's certificate is not valid for the name '127.0.0.1'"
    down = View(None, "disconnected", None, NOW, "127.0.0.1:1", why)
    text = header_text(None, down.liveness, None, "127.0.0.1:1", down.detail).plain
    assert f"disconnected: {why}" in text
    up = View(_completed("completed"), "connected", Freshness(1.0, NOW), NOW, "x:1", "")
    assert "disconnected" not in header_text(up.snapshot, up.liveness, 1.0, "x:1").plain


# -- A/B groups -------------------------------------------------------------------------------
def test_single_group_has_no_label_and_no_cycle() -> None:
    snap = sample_snapshot(n_envs=2)
    assert group_label(snap, None) == "" and next_group(snap, None) is None
    assert group_of(snap, None) == snap.tamiyo.groups[0]
    assert group_of(None, None) == spb.PolicyGroup()  # before any snapshot: nothing known


def test_groups_label_view_and_cycle() -> None:
    snap = sample_snapshot(n_envs=2, n_groups=3)
    assert [g.group_id for g in groups(snap)] == ["A", "B", "C"]
    assert group_label(snap, None) == "group A (1/3)"
    assert next_group(snap, None) == "B" and next_group(snap, "C") is None
    b = group_of(snap, "B")
    assert b.group_id == "B" and b.last_update.kl_divergence == 0.5
    assert series(snap, "ppo_update.kl_divergence", "A")  # each group has its own series
    assert not series(snap, "ppo_update.kl_divergence", "B")  # none sent for B here
    assert group_label(snap, "B") == "group B (2/3)"
    assert group_label(snap, "gone") == "group A (1/3)"  # a vanished group falls back


def test_env_row_keys_with_groups() -> None:
    assert row_key("", 3) == "3" and row_key("B", 3) == "B:3"
    assert parse_row_key("B:3") == ("B", 3) and parse_row_key("3") == ("", 3)
    env = spb.EnvState(env_id=3, group_id="B")
    assert str(env_row(env, [])[0]) == "B:3"


# -- fitting text -----------------------------------------------------------------------------
def _tamiyo(cv: float | None = 0.42) -> spb.PolicyGroup:
    t = spb.PolicyGroup(last_update=tpb.PPOUpdatePayload(
        total_layers=12, clip_fraction_positive=0.10, clip_fraction_negative=0.05))
    if cv is not None:
        t.last_measured.gradient_cv = cv
    return t


def test_flow_footer_tiers_by_width() -> None:
    t = _tamiyo()
    assert flow_footer(t, 80).plain == flow_footer(t).plain  # the seed's spacing when it fits
    assert flow_footer(t, 67).plain == (
        "─ Flow: CV:0.42 stable   Dead:0/12   Exploding:0/12   Clip:↑10%/↓5%")
    assert flow_footer(t, 66).plain == (
        "─ Flow: CV:0.42 stable  Dead:0/12  Exploding:0/12  Clip:↑10%/↓5%")
    assert flow_footer(t, 61).plain == (
        "─ Flow: CV:0.42 stable Dead:0/12 Exploding:0/12 Clip:↑10%/↓5%"
    )
    assert flow_footer(t, 58).plain == "─ Flow: CV:0.42 stable Dead:0/12 Expl:0/12 Clip:↑10%/↓5%"
    two = flow_footer(t, 40).plain.splitlines()
    assert two == ["─ Flow: CV:0.42 stable Clip:↑10%/↓5%", "        Dead:0/12 Expl:0/12"]
    for width in range(36, 90):
        assert _lines_fit(flow_footer(t, width), width), width
    assert "CV:—" in flow_footer(_tamiyo(cv=None), 56).plain


def test_delivery_wraps_whole_items() -> None:
    snap = sample_snapshot(n_envs=2)
    text = delivery_text(snap, 0.0, 0.5, 26)
    assert _lines_fit(text, 26)
    for item in ("received 5000", "applied 4990", "last event 0.5s ago"):
        assert item in text.plain


def test_ppo_details_and_batch_averages() -> None:
    from tui_client.renderables.envs import lifecycle_text
    from tui_client.renderables.ppo import details_text

    snap = sample_snapshot(n_envs=2)
    group = snap.tamiyo.groups[0]
    text = details_text(group, 60)
    assert _lines_fit(text, 60)
    for item in (
        "ratio min 0.80",
        "ratio max 1.30",
        "V μ 1.50",
        "V σ 0.40",
        "V max 3.10",
        "pre-clip GN 1.300",
        "lr 0.0003",
        "epoch 4",
        "batch 4",
        "update 85 ms",
    ):
        assert item in text.plain, item
    assert "early stop" not in text.plain  # absent: not "early stop ep 0"
    assert "CUDA peak" not in text.plain  # sampled but never measured here
    group.last_update.early_stop_epoch = 2
    group.last_measured.cuda_memory_peak_gb = 5.25
    group.last_update.ClearField("cuda_memory_allocated_gb")  # this update did not sample
    plain = details_text(group).plain
    assert "early stop ep 2" in plain and "CUDA peak 5.25 GB" in plain  # last measured
    assert "0.00" not in details_text(spb.PolicyGroup()).plain
    sub = lifecycle_text(snap)
    assert sub.startswith("batch avg acc 0.57 (rolling 0.55) · reward +0.300")
    assert lifecycle_text(spb.SanctumSnapshot()) == "germinated 0 · fossilized 0 · pruned 0"
