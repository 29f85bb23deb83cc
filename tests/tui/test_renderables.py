"""Pure renderables: what the panels draw for given snapshots (no App needed)."""

from __future__ import annotations

import math
from typing import Any

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_common import presentation
from testkit.snapshots import NOW, sample_snapshot
from tui_client.renderables.banner import banner_text, banner_title, memory_text
from tui_client.renderables.envs import env_row, seed_cell, slot_ids
from tui_client.renderables.event_log import log_text
from tui_client.renderables.fmt import bar, num, pct, sparkline
from tui_client.renderables.header import header_text
from tui_client.renderables.heads import flow_footer, heads_text
from tui_client.renderables.health import evaluate
from tui_client.renderables.ppo import directional_clip, ppo_text
from tui_client.state import Freshness, liveness


def _snap(updates: int = 60, measured: dict[str, float] | None = None,
          **update: Any) -> spb.SanctumSnapshot:
    """A snapshot with one policy group: its latest update has the given fields, and
    `measured` are its last measured sampled values."""
    snap = spb.SanctumSnapshot()
    snap.tamiyo.groups.add(updates=updates, last_update=tpb.PPOUpdatePayload(**update),
                           last_measured=tpb.PPOUpdatePayload(**(measured or {})))
    return snap


def _group(snap: spb.SanctumSnapshot) -> spb.PolicyGroup:
    return snap.tamiyo.groups[0]


def _evaluate(snap: spb.SanctumSnapshot) -> str:
    return evaluate(snap, _group(snap) if snap.tamiyo.groups else spb.PolicyGroup()).status


def test_banner_memory_is_a_percentage_not_gigabytes() -> None:
    snap = _snap(measured={"cuda_memory_allocated_gb": 4.2, "cuda_memory_reserved_gb": 8.0})
    text = banner_text(snap).plain
    assert "[Mem:52%]" in text or "[Mem:53%]" in text
    assert "4.2/8.0" not in text and "GB" not in text


def test_banner_memory_hidden_when_not_measured() -> None:
    snap = _snap()
    assert memory_text(_group(snap)) is None
    assert "Mem" not in banner_text(snap).plain


def test_banner_memory_styles_by_pressure() -> None:
    styles = {}
    for alloc in (4.0, 6.4, 7.6):
        snap = _snap(measured={"cuda_memory_allocated_gb": alloc, "cuda_memory_reserved_gb": 8.0})
        mem = memory_text(_group(snap))
        assert mem is not None
        styles[alloc] = str(mem.style)
    assert styles == {4.0: "dim", 6.4: "yellow", 7.6: "red bold"}


def test_banner_title_shows_compile() -> None:
    assert banner_title(_snap()) == "TAMIYO"
    cfg_only = _snap()
    cfg_only.run.config.compile_enabled = True
    assert banner_title(cfg_only) == "TAMIYO [compiled]"
    assert banner_title(None) == "TAMIYO"


def test_status_rules() -> None:
    assert _evaluate(spb.SanctumSnapshot()) == "warmup"
    assert _evaluate(_snap(updates=1)) == "warmup"
    assert _evaluate(_snap(updates=1, policy_loss=math.nan)) == "critical"
    assert _evaluate(_snap(ratio_max=1.2, ratio_min=0.9)) == "ok"
    assert _evaluate(_snap(exploding_layers=2)) == "critical"
    assert _evaluate(_snap(kl_divergence=0.5)) == "critical"
    assert _evaluate(_snap(ratio_max=9.0)) == "critical"
    assert _evaluate(_snap(clip_fraction=0.25)) == "warning"
    assert _evaluate(_snap(measured={"gradient_cv": 3.0})) == "warning"
    collapsed = _snap(heads=[tpb.HeadMetrics(head=tpb.ACTION_HEAD_OP, entropy=0.01)])
    collapsed.run.config.heads.add(head=tpb.ACTION_HEAD_OP, n_actions=6)
    verdict = evaluate(collapsed, _group(collapsed))
    assert verdict.status == "warning" and "entropy collapse" in verdict.reasons
    assert _evaluate(sample_snapshot()) == "ok"


def test_flow_footer_exact_text() -> None:
    """The seed's footer, assembled from its own appends:
    "─ Flow: " + f"CV:{cv:.2f} " + f"{cv_status}   " + f"Dead:{dead}/{total}   Exploding:
    {exploding}/{total}   " + f"Clip:↑{clip_pos:.0%}/↓{clip_neg:.0%}"."""
    t = _group(_snap(total_layers=12, clip_fraction_positive=0.10, clip_fraction_negative=0.05,
                     measured={"gradient_cv": 0.42}))
    footer = flow_footer(t)
    assert footer.plain == (
        "─ Flow: CV:0.42 stable   Dead:0/12   Exploding:0/12   Clip:↑10%/↓5%")
    styles = {footer.plain[s.start : s.end]: str(s.style) for s in footer.spans}
    assert str(footer.style) == ""  # only the lead-in is dim, not the whole footer
    assert styles["─ Flow: "] == "dim" and styles["stable"] == "dim"
    assert styles["CV:0.42 "] == "green"
    assert styles["Dead:0/12   Exploding:0/12"] == "green"
    assert styles["Clip:↑10%/↓5%"] == "dim"


def test_flow_footer_colours_and_unmeasured_cv() -> None:
    t = _group(_snap(total_layers=12, dead_layers=1))
    footer = flow_footer(t)
    assert "CV:—" in footer.plain and "0.00" not in footer.plain
    styles = {footer.plain[s.start : s.end]: str(s.style) for s in footer.spans}
    assert styles["Dead:1/12   Exploding:0/12"] == "red"
    # the seed's bands: green < 0.5 <= yellow < 2.0 <= red
    for cv, colour in ((0.49, "green"), (0.5, "yellow"), (1.99, "yellow"), (2.0, "red"),
                       (84.32, "red")):
        t.last_measured.gradient_cv = cv
        f = flow_footer(t)
        assert {f.plain[s.start : s.end]: str(s.style) for s in f.spans}[f"CV:{cv:.2f} "] == colour


def test_heads_bars_normalised_by_ln_n_actions() -> None:
    snap = _snap(
        heads=[tpb.HeadMetrics(head=tpb.ACTION_HEAD_OP, entropy=math.log(6) / 2, grad_norm=0.2)]
    )
    snap.run.config.heads.add(head=tpb.ACTION_HEAD_OP, n_actions=6)
    text = heads_text(snap).plain
    assert "op" in text and " 0.50 " in text and "0.200" in text
    assert "no PPO update yet" in heads_text(spb.SanctumSnapshot()).plain


def test_ppo_clip_gauge_followed_by_direction() -> None:
    snap = _snap(clip_fraction=0.15, clip_fraction_positive=0.10, clip_fraction_negative=0.05)
    assert directional_clip(_group(snap).last_update) == " (↑10% ↓5%)"
    lines = ppo_text(snap, width=80).plain.splitlines()
    clip_line = next(line for line in lines if line.startswith("Clip frac"))
    assert "0.150 (↑10% ↓5%)" in clip_line
    assert directional_clip(_group(_snap()).last_update) == ""
    for gauge in ("Policy loss", "Value loss", "Entropy", "KL", "Expl. var", "Grad norm"):
        assert any(line.startswith(gauge) for line in lines)


def test_ppo_unknown_before_first_update() -> None:
    text = ppo_text(spb.SanctumSnapshot(), width=80).plain
    assert text.count("—") >= 7 and "0.0000" not in text


def test_seed_cell_pruned_keeps_blueprint() -> None:
    cell = seed_cell(tpb.SeedTelemetry(stage=tpb.SEED_STAGE_PRUNED, blueprint_id="lora"))
    assert cell.plain == "PRUNED lora" and str(cell.style) == "red"
    assert seed_cell(None).plain == "·"
    snap = sample_snapshot(n_envs=2, n_slots=3)
    assert slot_ids(snap) == ["r0c0", "r0c1", "r0c2"]
    row = env_row(snap.envs.envs[0], slot_ids(snap))
    assert [str(c) for c in row[:4]] == ["0", "50", "55", "-0.080"]


def test_header_unknowns_and_config() -> None:
    snap = sample_snapshot()
    text = header_text(snap, "LIVE", 0.5, "x:1").plain
    assert "ep 240/1000" in text and "2.50 ep/s" in text and "● LIVE" in text
    assert "seed 42" in text and "linear 0.05→0.01/500ep" in text and "budget 1.5M" in text
    snap.run.ClearField("episodes_per_second")
    snap.run.config.ClearField("seed")
    text = header_text(snap, "disconnected", None, "x:1").plain
    assert "— ep/s" in text and "seed —" in text and "○ disconnected" in text


def test_liveness_ages_on_the_client() -> None:
    fresh = Freshness(0.5, received_at=NOW)
    assert liveness("connected", fresh, NOW) == "LIVE"
    assert liveness("connected", fresh, NOW + 3) == "SLOW"
    assert liveness("connected", fresh, NOW + 10) == "STALE"
    assert liveness("disconnected", fresh, NOW) == "disconnected"


def test_event_log_lines_in_utc() -> None:
    text = log_text(sample_snapshot()).plain
    assert text.splitlines()[0].startswith("11:59:30 INF SEED_GERMINATED")
    assert "WRN SEED_PRUNED" in text
    assert log_text(None).plain == "no events yet"


def test_fmt_helpers() -> None:
    assert num(None) == "—" and num(math.nan) == "NaN" and pct(0.105) == "10%"
    assert bar(0.5, 4) == "██░░" and bar(None, 3) == "░░░"
    assert sparkline([], 5) == "—" and sparkline([1, 2, 3], 5) == "▁▅█"


def test_ppo_panel_draws_every_gauge_of_the_presentation_table() -> None:
    """Gauges, their order, labels and sparklines come from the table, not from a list here."""
    snap = sample_snapshot()
    lines = ppo_text(snap, width=80).plain.splitlines()
    gauges = presentation.gauges(tpb.PPOUpdatePayload)
    assert [line[:12].strip() for line in lines[:len(gauges)]] == [
        g.label for g in gauges.values()]
    assert all(line.rstrip()[-1] in "▁▂▃▄▅▆▇█" for line in lines[:len(gauges)])  # sparklines


def test_evaluate_reads_the_group_it_is_given() -> None:
    snap = sample_snapshot(n_groups=2)
    a, b = snap.tamiyo.groups
    assert evaluate(snap, a).status == "ok"
    assert evaluate(snap, b).status == "critical"  # group B's KL is 0.5
