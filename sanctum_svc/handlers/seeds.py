"""Seed lifecycle events: per-slot seed state of an env, lifecycle counts, log entries.

Log messages name the slot only: the entry carries env_id as its own field.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from esper.telemetry.v1 import telemetry_pb2 as tpb
from sanctum_svc.handlers.registry import handles

if TYPE_CHECKING:
    from sanctum_svc.aggregator import RunAggregator

ET = tpb.EventType


def stage_name(stage: int) -> str:
    """SEED_STAGE_BLENDING -> BLENDING."""
    try:
        return tpb.SeedStage.Name(stage).removeprefix("SEED_STAGE_")
    except ValueError:
        return f"STAGE({stage})"


def _seed(run: RunAggregator, event: tpb.TelemetryEvent, slot_id: str) -> tpb.SeedTelemetry | None:
    """A mutable copy of the env's seed in `slot_id`, now the slot's state (created on first
    mention); None without an env id."""
    if not event.HasField("env_id"):
        return None
    return run.env(event.group_id, event.env_id).own_seed(slot_id)


def _enter_stage(run: RunAggregator, event: tpb.TelemetryEvent, slot_id: str,
                 stage: tpb.SeedStage,
                 blueprint_id: str) -> tuple[tpb.SeedTelemetry | None, str]:
    """Move the slot's seed to `stage`; a payload's blueprint_id wins, else the seed keeps its
    own (a pruned seed keeps its blueprint: seed plan 000). Returns the seed (None without an
    env id) and the blueprint to name in the log ("?" when none is known)."""
    seed = _seed(run, event, slot_id)
    if seed is None:
        return None, blueprint_id or "?"
    seed.stage = stage
    seed.epochs_in_stage = 0
    if blueprint_id:
        seed.blueprint_id = blueprint_id
    return seed, seed.blueprint_id or "?"


@handles(ET.EVENT_TYPE_SEED_GERMINATED)
def seed_germinated(run: RunAggregator, event: tpb.TelemetryEvent, received_at: float) -> None:
    p = event.seed_germinated
    seed = _seed(run, event, p.slot_id)
    if seed is not None:
        run.env(event.group_id, event.env_id).counterfactuals.pop(p.slot_id, None)
        seed.Clear()
        seed.slot_id = p.slot_id
        seed.stage = tpb.SEED_STAGE_GERMINATED
        seed.blueprint_id = p.blueprint_id
        seed.seed_id = p.seed_id
        seed.params = p.params
    run.state.lifecycle.germinated += 1
    run.log(
        event,
        received_at,
        f"{p.slot_id}: germinated {p.blueprint_id or '?'} ({p.params:,} params)",
    )


@handles(ET.EVENT_TYPE_SEED_STAGE_CHANGED)
def seed_stage_changed(run: RunAggregator, event: tpb.TelemetryEvent, received_at: float) -> None:
    p = event.seed_stage_changed
    seed, _ = _enter_stage(run, event, p.slot_id, p.to_stage, p.blueprint_id)
    if seed is not None:
        seed.alpha = p.alpha
    run.log(
        event,
        received_at,
        f"{p.slot_id}: {stage_name(p.from_stage)} → {stage_name(p.to_stage)}",
    )


@handles(ET.EVENT_TYPE_SEED_GATE_EVALUATED)
def seed_gate_evaluated(run: RunAggregator, event: tpb.TelemetryEvent, received_at: float) -> None:
    p = event.seed_gate_evaluated
    verdict = "passed" if p.passed else "failed"
    reason = f": {p.reason}" if p.reason else ""
    run.log(
        event,
        received_at,
        f"{p.slot_id}: gate {p.gate or '?'} {verdict} "
        f"(→ {stage_name(p.target_stage)}){reason}",
    )


def _keep_counterfactual(run: RunAggregator, event: tpb.TelemetryEvent,
                         seed: tpb.SeedTelemetry | None,
                         p: tpb.SeedPrunedPayload | tpb.SeedFossilizedPayload) -> str:
    """Keep the payload's counterfactual on the slot (forgotten when not measured), so the
    snapshot shows it while the slot stays decided; the log text for it ("" when absent)."""
    if seed is None:
        return f", counterfactual {p.counterfactual:+.3f}" if p.HasField("counterfactual") else ""
    kept = run.env(event.group_id, event.env_id).counterfactuals
    if not p.HasField("counterfactual"):
        seed.ClearField("counterfactual")
        kept.pop(p.slot_id, None)
        return ""
    seed.counterfactual = kept[p.slot_id] = p.counterfactual
    return f", counterfactual {p.counterfactual:+.3f}"


@handles(ET.EVENT_TYPE_SEED_FOSSILIZED)
def seed_fossilized(run: RunAggregator, event: tpb.TelemetryEvent, received_at: float) -> None:
    p = event.seed_fossilized
    seed, blueprint = _enter_stage(run, event, p.slot_id, tpb.SEED_STAGE_FOSSILIZED,
                                   p.blueprint_id)
    cf = _keep_counterfactual(run, event, seed, p)
    run.state.lifecycle.fossilized += 1
    run.log(
        event,
        received_at,
        f"{p.slot_id}: fossilized {blueprint} "
        f"(+{p.params_added:,} params, {p.improvement:+.2f} acc, {p.epochs_total} epochs{cf})",
    )


@handles(ET.EVENT_TYPE_SEED_PRUNED, ET.EVENT_TYPE_SEED_CULLED)
def seed_pruned(run: RunAggregator, event: tpb.TelemetryEvent, received_at: float) -> None:
    """PRUNED (or its older name CULLED): the seed keeps its blueprint_id (seed plan 000) and
    its counterfactual contribution, when measured."""
    p = event.seed_pruned
    seed, blueprint = _enter_stage(run, event, p.slot_id, tpb.SEED_STAGE_PRUNED,
                                   p.blueprint_id)
    cf = _keep_counterfactual(run, event, seed, p)
    run.state.lifecycle.pruned += 1
    reason = f": {p.reason}" if p.reason else ""
    run.log(
        event,
        received_at,
        f"{p.slot_id}: pruned {blueprint} "
        f"({p.improvement:+.2f} acc, {p.epochs_total} epochs{cf}){reason}",
    )
