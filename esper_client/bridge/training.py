"""Run-level events of the original: training started, host epochs, batch barriers,
episode outcomes, detectors and checkpoints."""

from __future__ import annotations

from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_client.bridge.context import PERCENT, Ctx, SlotMemo, stage
from esper_client.bridge.registry import maps
from esper_client.bridge.values import set_fields

ET = tpb.EventType

#: The original's detector events -> ours (all carry an AnomalyPayload).
ANOMALIES = {
    "RATIO_EXPLOSION_DETECTED": ET.EVENT_TYPE_RATIO_EXPLOSION_DETECTED,
    "RATIO_COLLAPSE_DETECTED": ET.EVENT_TYPE_RATIO_COLLAPSE_DETECTED,
    "VALUE_COLLAPSE_DETECTED": ET.EVENT_TYPE_VALUE_COLLAPSE_DETECTED,
    "NUMERICAL_INSTABILITY_DETECTED": ET.EVENT_TYPE_NUMERICAL_INSTABILITY_DETECTED,
    "GRADIENT_ANOMALY": ET.EVENT_TYPE_GRADIENT_ANOMALY,
    "GRADIENT_PATHOLOGY_DETECTED": ET.EVENT_TYPE_GRADIENT_ANOMALY,
}
TRENDS = {
    "PLATEAU_DETECTED": ET.EVENT_TYPE_PLATEAU_DETECTED,
    "DEGRADATION_DETECTED": ET.EVENT_TYPE_DEGRADATION_DETECTED,
    "IMPROVEMENT_DETECTED": ET.EVENT_TYPE_IMPROVEMENT_DETECTED,
}


@maps("TRAINING_STARTED")
def training_started(c: Ctx) -> tpb.TelemetryEvent:
    """The run's shape and hyperparameters as a RunConfig; the run remembers the shape so
    later events are checked against it as sanctum will."""
    v = c.v
    cfg = tpb.RunConfig(
        task=v.text("task"), resume_path=v.text("resume_path"),
        policy_device=v.text("policy_device"), reward_mode=v.text("reward_mode"),
        compile_backend=v.text("compile_backend"), compile_mode=v.text("compile_mode"),
        slot_ids=v.texts("slot_ids"), env_devices=v.texts("env_devices"))
    set_fields(cfg, seed=v.i64_exact("seed"), n_episodes=v.u32("n_episodes"),
               lr=v.num("lr"), clip_ratio=v.num("clip_ratio"),
               entropy_coef=v.num("entropy_coef"), param_budget=v.u64("param_budget"),
               n_envs=v.u32("n_envs"), max_epochs=v.u32("max_epochs"),
               host_params=v.u64("host_params"), compile_enabled=v.flag("compile_enabled"),
               world_size=v.u32("world_size"))
    anneal = c.data.get("entropy_anneal")
    if isinstance(anneal, dict):  # the original anneals linearly over `episodes`
        set_fields(cfg.entropy_anneal, kind=tpb.SCHEDULE_KIND_LINEAR,
                   start=v.num("start", anneal), end=v.num("end", anneal),
                   anneal_episodes=v.u32("episodes", anneal))
    run = c.run
    run.n_envs, run.slot_ids, run.host_params = cfg.n_envs, frozenset(cfg.slot_ids), \
        cfg.host_params
    payload = tpb.TrainingStartedPayload(config=cfg)
    set_fields(payload, rank=v.u32("rank"))
    return c.event(ET.EVENT_TYPE_TRAINING_STARTED, training_started=payload)


def _seed(c: Ctx, env_id: int, slot_id: str, raw: dict) -> tpb.SeedTelemetry:
    """One entry of EPOCH_COMPLETED's `seeds` map; the slot's memo fills what the entry
    does not carry (seed id, params) and learns its blueprint and stage."""
    v = c.v
    memo = c.run.slot(c.group, env_id, slot_id)
    seed = tpb.SeedTelemetry(slot_id=slot_id, stage=stage(raw.get("stage")),
                             blueprint_id=v.text("blueprint_id", raw) or memo.blueprint_id,
                             seed_id=memo.seed_id, params=memo.params)
    set_fields(seed, alpha=v.num("alpha", raw),
               accuracy_delta=v.num("accuracy_delta", raw, PERCENT),
               epochs_in_stage=v.u32("epochs_in_stage", raw))
    memo.blueprint_id, memo.stage = seed.blueprint_id, seed.stage
    return seed


@maps("EPOCH_COMPLETED")
def epoch_completed(c: Ctx) -> tpb.TelemetryEvent:
    """One env's host epoch with its seeds. The reward is not in this record: the decision
    the controller takes on the same epoch carries it (the bridge pairs them)."""
    v = c.v
    env_id = c.env_id()
    p = tpb.EpochCompletedPayload()
    set_fields(p, val_accuracy=v.num("val_accuracy", scale=PERCENT),
               val_loss=v.num("val_loss"), train_loss=v.num("train_loss"))
    seeds = c.data.get("seeds")
    if isinstance(seeds, dict):
        for slot_id, raw in v.items("seeds", list(seeds.items())):
            if not isinstance(raw, dict) or not isinstance(slot_id, str):
                continue
            if c.run.slot_ids and slot_id not in c.run.slot_ids:
                v.note_clamped("seeds (slot not declared)")
                continue
            p.seeds.append(_seed(c, env_id, v.clip("seeds", slot_id), raw))
    epoch = v.u32("inner_epoch")
    return c.event(ET.EVENT_TYPE_EPOCH_COMPLETED, env_id=env_id, epoch=epoch,
                   episode=v.u64("episode_idx"), epoch_completed=p)


@maps("BATCH_EPOCH_COMPLETED")
def batch_epoch_completed(c: Ctx) -> tpb.TelemetryEvent:
    v = c.v
    p = tpb.BatchEpochCompletedPayload(env_accuracies=v.nums("env_accuracies", PERCENT))
    set_fields(p, avg_accuracy=v.num("avg_accuracy", scale=PERCENT),
               avg_reward=v.num("avg_reward"), total_episodes=v.u64("total_episodes"),
               episodes_completed=v.u64("episodes_completed"), batch_idx=v.u64("batch_idx"),
               rolling_accuracy=v.num("rolling_accuracy", scale=PERCENT))
    # A new batch starts on fresh hosts: nothing the slots held carries over.
    group = c.group
    for key in [k for k in c.run.slots if k[0] == group]:
        c.run.slots[key] = SlotMemo()
    return c.event(ET.EVENT_TYPE_BATCH_EPOCH_COMPLETED, batch=p.batch_idx,
                   batch_epoch_completed=p)


@maps("EPISODE_OUTCOME")
def episode_outcome(c: Ctx) -> tpb.TelemetryEvent:
    v = c.v
    env_id = c.env_id()
    p = tpb.EpisodeOutcomePayload()
    set_fields(p, final_accuracy=v.num("final_accuracy", scale=PERCENT),
               total_reward=v.num("episode_reward"), seeds_fossilized=v.u32("num_fossilized"),
               seeds_pruned=v.u32("prune_count"))
    ratio = v.num("param_ratio")  # (host + seeds) / host
    if ratio is not None and c.run.host_params and ratio >= 1.0:
        p.params_added = min(round((ratio - 1.0) * c.run.host_params), 2**64 - 1)
    return c.event(ET.EVENT_TYPE_EPISODE_OUTCOME, env_id=env_id,
                   episode=v.u64("episode_idx"), episode_outcome=p)


@maps(*ANOMALIES)
def anomaly(c: Ctx) -> tpb.TelemetryEvent:
    """Detector events: the detail text; the original does not record value/threshold."""
    v = c.v
    detail = v.text("detail") or v.text("anomaly_type") or c.v.clip("message", str(
        c.record.get("message") or ""))
    return c.event(ANOMALIES[c.event_type], batch=v.u64("batch"), episode=v.u64("episode"),
                   anomaly=tpb.AnomalyPayload(detail=detail))


@maps(*TRENDS)
def trend(c: Ctx) -> tpb.TelemetryEvent:
    """Plateau / degradation / improvement of the rolling accuracy."""
    v = c.v
    p = tpb.TrendPayload(metric="rolling accuracy")
    set_fields(p, slope=v.num("rolling_delta", scale=PERCENT),
               current=v.num("rolling_avg_accuracy", scale=PERCENT))
    return c.event(TRENDS[c.event_type], batch=v.u64("batch_idx"), trend=p)


@maps("MEMORY_WARNING")
def memory_warning(c: Ctx) -> tpb.TelemetryEvent:
    v = c.v
    p = tpb.MemoryWarningPayload(device=v.text("device") or "gpu")
    set_fields(p, used_gb=v.num("gpu_allocated_gb"), total_gb=v.num("gpu_total_gb"),
               utilization=v.num("gpu_utilization"))
    return c.event(ET.EVENT_TYPE_MEMORY_WARNING, memory_warning=p)


@maps("CHECKPOINT_LOADED")
def checkpoint_loaded(c: Ctx) -> tpb.TelemetryEvent:
    v = c.v
    p = tpb.CheckpointLoadedPayload(path=v.text("path"))
    set_fields(p, episode=v.u64("start_episode"))
    return c.event(ET.EVENT_TYPE_CHECKPOINT_LOADED, checkpoint_loaded=p)
