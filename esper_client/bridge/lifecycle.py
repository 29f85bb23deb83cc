"""Seed lifecycle events of the original: germinated, stage changed, gate evaluated,
fossilized, pruned (SEED_CULLED in older files). Each names its env and slot; the slot's
memo supplies the blueprint and stage where the original's record leaves them out."""

from __future__ import annotations

from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_client.bridge.context import PERCENT, Ctx, SlotMemo, stage
from esper_client.bridge.registry import maps
from esper_client.bridge.values import set_fields

ET = tpb.EventType


def _where(c: Ctx) -> tuple[int, str, SlotMemo]:
    env_id = c.env_id()
    slot_id = c.slot_id()
    return env_id, slot_id, c.run.slot(c.group, env_id, slot_id)


def _envelope(c: Ctx, env_id: int) -> dict[str, int | None]:
    """env and episode of a seed event (the envelope's `epoch` is not the env's epoch)."""
    return {"env_id": env_id, "episode": c.v.u64("episode_idx"),
            "epoch": c.v.u32("inner_epoch")}


@maps("SEED_GERMINATED")
def seed_germinated(c: Ctx) -> tpb.TelemetryEvent:
    v = c.v
    env_id, slot_id, memo = _where(c)
    seed_id = c.record.get("seed_id")
    p = tpb.SeedGerminatedPayload(
        slot_id=slot_id, blueprint_id=v.text("blueprint_id"),
        seed_id=v.clip("seed_id", seed_id) if isinstance(seed_id, str) else "")
    set_fields(p, params=v.u64("params"))
    memo.blueprint_id, memo.stage = p.blueprint_id, tpb.SEED_STAGE_GERMINATED
    memo.seed_id, memo.params = p.seed_id, p.params
    return c.event(ET.EVENT_TYPE_SEED_GERMINATED, **_envelope(c, env_id), seed_germinated=p)


@maps("SEED_STAGE_CHANGED")
def seed_stage_changed(c: Ctx) -> tpb.TelemetryEvent:
    v = c.v
    env_id, slot_id, memo = _where(c)
    p = tpb.SeedStageChangedPayload(
        slot_id=slot_id, from_stage=stage(c.data.get("from_stage")),
        to_stage=stage(c.data.get("to_stage")),
        blueprint_id=v.text("blueprint_id") or memo.blueprint_id)
    set_fields(p, alpha=v.num("alpha"))
    memo.stage = p.to_stage
    return c.event(ET.EVENT_TYPE_SEED_STAGE_CHANGED, **_envelope(c, env_id),
                   seed_stage_changed=p)


@maps("SEED_GATE_EVALUATED")
def seed_gate_evaluated(c: Ctx) -> tpb.TelemetryEvent:
    """The gate's verdict; the reason is the original's message, else its failed checks."""
    v = c.v
    env_id, slot_id, _ = _where(c)
    failed = v.texts("checks_failed")
    reason = v.text("message") or (f"failed: {', '.join(failed)}" if failed else "")
    p = tpb.SeedGateEvaluatedPayload(
        slot_id=slot_id, gate=v.text("gate"), target_stage=stage(c.data.get("target_stage")),
        reason=v.clip("message", reason))
    set_fields(p, passed=v.flag("passed"))
    return c.event(ET.EVENT_TYPE_SEED_GATE_EVALUATED, **_envelope(c, env_id),
                   seed_gate_evaluated=p)


@maps("SEED_FOSSILIZED")
def seed_fossilized(c: Ctx) -> tpb.TelemetryEvent:
    v = c.v
    env_id, slot_id, memo = _where(c)
    p = tpb.SeedFossilizedPayload(slot_id=slot_id,
                                  blueprint_id=v.text("blueprint_id") or memo.blueprint_id)
    set_fields(p, params_added=v.u64("params_added"),
               improvement=v.num("improvement", scale=PERCENT),
               epochs_total=v.u32("epochs_total"),
               counterfactual=v.num("counterfactual", scale=PERCENT))
    memo.blueprint_id, memo.stage = p.blueprint_id, tpb.SEED_STAGE_FOSSILIZED
    return c.event(ET.EVENT_TYPE_SEED_FOSSILIZED, **_envelope(c, env_id), seed_fossilized=p)


@maps("SEED_PRUNED", "SEED_CULLED")
def seed_pruned(c: Ctx) -> tpb.TelemetryEvent:
    """A pruned seed keeps its blueprint; the stage it was pruned from is the slot's last
    known stage (the original does not write it)."""
    v = c.v
    env_id, slot_id, memo = _where(c)
    p = tpb.SeedPrunedPayload(slot_id=slot_id,
                              blueprint_id=v.text("blueprint_id") or memo.blueprint_id,
                              reason=v.text("reason") or v.text("initiator"),
                              from_stage=memo.stage)
    set_fields(p, improvement=v.num("improvement", scale=PERCENT),
               epochs_total=v.u32("epochs_total"),
               counterfactual=v.num("counterfactual", scale=PERCENT))
    memo.blueprint_id, memo.stage = p.blueprint_id, tpb.SEED_STAGE_PRUNED
    return c.event(ET.EVENT_TYPE_SEED_PRUNED, **_envelope(c, env_id), seed_pruned=p)
