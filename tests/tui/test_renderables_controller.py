"""Renderables for the controller's shape and diagnostics: the seed's memory badge rule,
rollout throughput beside the compile badge, non-finite updates, 8-head decision cards,
and a pruned/fossilized seed's counterfactual in the env detail."""

from __future__ import annotations

from rich.console import Console

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.telemetry.v1 import telemetry_pb2 as tpb
from testkit.snapshots import sample_snapshot
from tui_client.renderables.banner import banner_text, memory_text, throughput_text
from tui_client.renderables.decisions import card_text
from tui_client.renderables.health import evaluate
from tui_client.renderables.ppo import details_text
from tui_client.screens.env_detail import env_detail


def _snap(**update: float) -> spb.SanctumSnapshot:
    """One group whose latest update carried `update` (also its last measured values)."""
    snap = spb.SanctumSnapshot()
    snap.tamiyo.groups.add(updates=5, last_update=tpb.PPOUpdatePayload(**update),
                           last_measured=tpb.PPOUpdatePayload(**update))
    return snap


def _group(snap: spb.SanctumSnapshot) -> spb.PolicyGroup:
    return snap.tamiyo.groups[0]


def test_memory_badge_hidden_when_reserved_is_zero() -> None:
    """The seed: `if mem_pct > 0: banner.append(f"  [Mem:{mem_pct:.0f}%]", ...)`, and the
    percentage is 0.0 when `cuda_memory_reserved_gb <= 0`."""
    nothing_reserved = _snap(cuda_memory_allocated_gb=0.0, cuda_memory_reserved_gb=0.0)
    assert memory_text(_group(nothing_reserved)) is None
    assert "Mem" not in banner_text(nothing_reserved).plain
    used = _snap(cuda_memory_allocated_gb=4.2, cuda_memory_reserved_gb=8.0)
    assert banner_text(used).plain.endswith("  [Mem:52%]")


def test_throughput_beside_the_compile_badge() -> None:
    assert throughput_text(None) == "" and throughput_text(spb.PolicyGroup()) == ""
    assert throughput_text(_group(_snap(fps=812.5, step_time_ms=4.9))) == "812 fps · 4.9 ms/step"
    assert throughput_text(_group(_snap(fps=12_345.0, step_time_ms=0.32))) == (
        "12,345 fps · 0.3 ms/step")
    assert throughput_text(_group(_snap())) == "— fps · — ms/step"  # did not measure


def test_nonfinite_minibatches_lead_the_ppo_details() -> None:
    t = sample_snapshot(n_envs=2).tamiyo.groups[0]
    assert "non-finite" not in details_text(t).plain
    t.last_update.nonfinite_loss_count, t.last_update.optimizer_steps = 16, 0
    text = details_text(t, 60)
    assert text.plain.startswith("non-finite loss ×16 (skipped)")
    assert any(str(s.style) == "bold red" for s in text.spans)
    t.last_update.nonfinite_grad_count = 3
    assert "non-finite grads ×3 (skipped)" in details_text(t).plain


def test_skipped_nonfinite_minibatches_are_critical() -> None:
    """A NaN no longer arrives as a NaN loss: the trainer's counts carry it."""
    snap = sample_snapshot(n_envs=2)
    group = snap.tamiyo.groups[0]
    assert evaluate(snap, group).status == "ok"
    group.last_update.nonfinite_grad_count = 2
    verdict = evaluate(snap, group)
    assert verdict.status == "critical" and "non-finite grads ×2" in verdict.reasons


def test_card_dims_the_heads_the_op_ignored() -> None:
    card = tpb.DecisionCard(env_id=1, op=tpb.LIFECYCLE_OP_PRUNE, slot_id="r0c0", heads=[
        tpb.HeadChoice(head=tpb.ACTION_HEAD_OP, action="PRUNE", probability=0.4,
                       relevant=True, valid_mask=0b1001),
        tpb.HeadChoice(head=tpb.ACTION_HEAD_STYLE, action="GATE", probability=0.3),
        tpb.HeadChoice(head=tpb.ACTION_HEAD_ALPHA_SPEED, action="INSTANT", probability=1.0,
                       relevant=True, valid_mask=0b1),
    ])
    text = card_text(card, 80)
    plain = text.plain
    assert "op=PRUNE 40%" in plain and "alpha_speed=INSTANT 100%" in plain
    assert "style=GATE" in plain and "style=GATE 30%" not in plain  # ignored: no probability
    ignored = plain.index("style=GATE")
    assert any(s.start == ignored and str(s.style) == "dim" for s in text.spans)


def test_env_detail_shows_the_counterfactual_of_decided_seeds() -> None:
    snap = sample_snapshot(n_envs=4)
    console = Console(width=140, record=True)
    console.print(env_detail(snap, 1))
    text = console.export_text()
    assert "Contrib" in text
    pruned = next(line for line in text.splitlines() if "PRUNED lora" in line)
    assert "+0.013" in pruned  # env 1: counterfactual 0.0125
    blending = next(line for line in text.splitlines() if "BLENDING mlp_small" in line)
    assert blending.rstrip().endswith("—")  # a live seed: not measured
