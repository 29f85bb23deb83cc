"""Snapshots for tests and benchmarks: a deterministic, fully populated SanctumSnapshot (built
from the payload builders of `testkit.events`), and a comparable copy of a live one."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_common.presentation import metric, plotted

#: Fixed wall-clock "now" (2025-01-01T12:00:00Z): snapshot tests freeze the app clock here.
NOW = 1_735_732_800.0
HEAD_SIZES = {
    tpb.ACTION_HEAD_OP: 6,
    tpb.ACTION_HEAD_SLOT: 3,
    tpb.ACTION_HEAD_BLUEPRINT: 8,
    tpb.ACTION_HEAD_STYLE: 4,
    tpb.ACTION_HEAD_TEMPO: 3,
    tpb.ACTION_HEAD_ALPHA_TARGET: 5,
    tpb.ACTION_HEAD_ALPHA_SPEED: 4,
    tpb.ACTION_HEAD_ALPHA_CURVE: 3,
}
STAGES = [
    (tpb.SEED_STAGE_TRAINING, "conv_light"),
    (tpb.SEED_STAGE_PRUNED, "lora"),
    (tpb.SEED_STAGE_FOSSILIZED, "attention"),
    (tpb.SEED_STAGE_BLENDING, "mlp_small"),
    (tpb.SEED_STAGE_DORMANT, ""),
]
OPS = [
    (tpb.LIFECYCLE_OP_WAIT, "", ""),
    (tpb.LIFECYCLE_OP_GERMINATE, "r0c1", "lora"),
    (tpb.LIFECYCLE_OP_SET_ALPHA_TARGET, "r0c0", ""),
    (tpb.LIFECYCLE_OP_PRUNE, "r0c2", "attention"),
    (tpb.LIFECYCLE_OP_FOSSILIZE, "r0c0", "conv_light"),
    (tpb.LIFECYCLE_OP_ADVANCE, "r0c1", "mlp_small"),
]


def _ts(seconds: float) -> Timestamp:
    ts = Timestamp()
    ts.FromNanoseconds(int(seconds * 1e9))
    return ts


def decision(k: int, n_envs: int = 16) -> tpb.DecisionCard:
    """Decision number `k`: ops cycle through OPS; every third has no reward yet."""
    op, slot, blueprint = OPS[k % len(OPS)]
    card = tpb.DecisionCard(
        env_id=k % n_envs, op=op, slot_id=slot, blueprint_id=blueprint,
        value_estimate=1.0 + 0.1 * k, epoch=7, masked_actions=k % 4,
        heads=[
            tpb.HeadChoice(head=tpb.ACTION_HEAD_OP, action=tpb.LifecycleOp.Name(op)[13:],
                           probability=0.71, entropy=0.9),
            tpb.HeadChoice(head=tpb.ACTION_HEAD_SLOT, action=slot or "r0c0", probability=0.55),
            tpb.HeadChoice(head=tpb.ACTION_HEAD_BLUEPRINT, action=blueprint or "norm",
                           probability=0.4),
            tpb.HeadChoice(head=tpb.ACTION_HEAD_ALPHA_TARGET, action="0.5", probability=0.62),
        ],
    )
    if k % 3:
        card.reward = 0.01 * k
    return card


def ppo_update() -> tpb.PPOUpdatePayload:
    """A mid-run update: clip ↑10% ↓5%, CV 0.42 and 4.2/8.0 GB CUDA memory measured, 812 fps
    at 4.9 ms/step, 16 optimizer steps."""
    return tpb.PPOUpdatePayload(
        policy_loss=-0.0123, value_loss=0.4567, entropy=1.234, kl_divergence=0.0081,
        clip_fraction=0.15, clip_fraction_positive=0.10, clip_fraction_negative=0.05,
        explained_variance=0.71, grad_norm=0.532, ratio_min=0.8, ratio_max=1.3,
        value_mean=1.5, value_std=0.4, value_min=0.2, value_max=3.1, advantage_std=1.0,
        pre_clip_grad_norm=1.3, lr=3e-4, entropy_coef=0.05, inner_epoch=4, batch=4,
        update_time_ms=85.0, total_layers=12, update_index=12, gradient_cv=0.42,
        cuda_memory_allocated_gb=4.2, cuda_memory_reserved_gb=8.0, fps=812.5, step_time_ms=4.9,
        optimizer_steps=16,
        heads=[tpb.HeadMetrics(head=h, entropy=0.6 * (1 + i % 3) / 3 * 1.5,
                               grad_norm=0.05 * (i + 1))
               for i, h in enumerate(HEAD_SIZES)],
    )


def policy_group(group_id: str, update: tpb.PPOUpdatePayload, updates: int,
                 last_decision: tpb.DecisionCard) -> spb.PolicyGroup:
    """A group whose latest update is `update` (its optional fields are the last measured)."""
    group = spb.PolicyGroup(group_id=group_id, updates=updates, last_update=update,
                            last_decision=last_decision)
    for field, value in update.ListFields():
        if field.has_presence and field.message_type is None:
            setattr(group.last_measured, field.name, value)
    return group


def _series(message: type, group_id: str, values: list[float],
            env_id: int | None = None) -> list[spb.History]:
    return [spb.History(metric=metric(message, name), group_id=group_id, env_id=env_id,
                        values=values) for name in plotted(message)]


def sample_snapshot(
    n_envs: int = 16, n_slots: int = 3, version: int = 1, n_groups: int = 1
) -> spb.SanctumSnapshot:
    """A mid-run snapshot: 4.2/8.0 GB CUDA memory, compile on, 812 fps at 4.9 ms/step, CV
    0.42, clip ↑10% ↓5%, counterfactuals on pruned/fossilized seeds, six recent decisions,
    host vitals with a GPU; `n_groups` > 1 adds A/B policy groups (group "B" has KL 0.5:
    critical, and no CV measured)."""
    slots = [f"r0c{i}" for i in range(n_slots)]
    cfg = tpb.RunConfig(
        seed=42, n_episodes=1000, lr=3e-4, clip_ratio=0.2, entropy_coef=0.05,
        param_budget=1_500_000, n_envs=n_envs, task="cifar10", slot_ids=slots,
        compile_enabled=True,
        entropy_anneal=tpb.EntropyAnneal(kind=tpb.SCHEDULE_KIND_LINEAR, start=0.05, end=0.01,
                                         anneal_episodes=500),
        heads=[tpb.HeadSpec(head=h, n_actions=n) for h, n in HEAD_SIZES.items()],
    )
    decisions = [decision(k, n_envs) for k in range(6)]
    primary = "A" if n_groups > 1 else ""
    groups = [policy_group(primary, ppo_update(), 12, decisions[-1])]
    for g in range(1, n_groups):
        update = ppo_update()
        update.kl_divergence = 0.5
        update.ClearField("gradient_cv")
        groups.append(policy_group(chr(ord("A") + g), update, 9, decision(10 + g, n_envs)))
    envs = []
    series = _series(tpb.PPOUpdatePayload, primary, [0.1 * ((k * 7) % 10) for k in range(30)])
    for e in range(n_envs):
        env = spb.EnvState(
            env_id=e, best_accuracy=55.0 + e, epoch=7, episode=3,
            last_epoch=tpb.EpochCompletedPayload(val_accuracy=50.0 + e, reward=0.01 * (e - 8)))
        for s, slot in enumerate(slots):
            stage, bp = STAGES[(e + s) % len(STAGES)]
            if stage != tpb.SEED_STAGE_DORMANT:
                env.seeds[slot].CopyFrom(
                    tpb.SeedTelemetry(slot_id=slot, stage=stage, blueprint_id=bp, alpha=0.5))
                if stage in (tpb.SEED_STAGE_PRUNED, tpb.SEED_STAGE_FOSSILIZED):
                    env.seeds[slot].counterfactual = 0.0125 if e % 2 else -0.004
        envs.append(env)
        series.append(spb.History(metric=metric(tpb.EpochCompletedPayload, "val_accuracy"),
                                  env_id=e, values=[40.0 + e + k for k in range(10)]))
        series.append(spb.History(metric=metric(tpb.EpochCompletedPayload, "reward"),
                                  env_id=e, values=[0.01 * k for k in range(10)]))
    log = [
        spb.EventLogEntry(
            timestamp=_ts(NOW - 30 + k),
            event_type=tpb.EVENT_TYPE_SEED_PRUNED if k % 2 else tpb.EVENT_TYPE_SEED_GERMINATED,
            severity=tpb.SEVERITY_WARNING if k % 2 else tpb.SEVERITY_INFO,
            env_id=k % n_envs,
            message=f"slot r0c{k % n_slots} lora",
        )
        for k in range(12)
    ]
    return spb.SanctumSnapshot(
        run_id="run-7",
        version=version,
        generated_at=_ts(NOW),
        run=spb.RunSection(
            config=cfg, status=spb.RUN_STATUS_RUNNING, liveness=spb.LIVENESS_LIVE,
            last_event_time=_ts(NOW - 0.5), seconds_since_last_event=0.5,
            episodes_per_second=2.5,
            last_batch=tpb.BatchEpochCompletedPayload(
                avg_accuracy=0.57, avg_reward=0.3, total_episodes=1000, episodes_completed=240,
                batch_idx=15, rolling_accuracy=0.55)),
        tamiyo=spb.TamiyoSection(groups=groups),
        envs=spb.EnvSection(envs=envs, mean_reward=-0.005),
        histories=spb.HistorySection(series=series),
        event_log=spb.EventLogSection(entries=log),
        decisions=spb.DecisionSection(recent=decisions),
        delivery=spb.DeliveryStats(
            events_received=5000, events_applied=4990, events_duplicate=10,
            producers=[spb.ProducerDelivery(producer_id="trainer-0", last_seq=4990)]),
        vitals=tpb.SystemVitalsPayload(
            cpu_percent=55.0, ram_used_gb=6.5, ram_total_gb=16.0, process_rss_gb=1.1,
            gpu_memory_used_gb=4.9, gpu_memory_total_gb=8.0, gpu_utilization=63.0),
        lifecycle=spb.LifecycleCounts(germinated=30, fossilized=6, pruned=9),
    )


def comparable(snapshot: spb.SanctumSnapshot) -> spb.SanctumSnapshot:
    """A copy without time- and version-dependent fields, for before/after comparisons."""
    out = spb.SanctumSnapshot()
    out.CopyFrom(snapshot)
    out.ClearField("generated_at")
    out.ClearField("version")
    for name in ("liveness", "seconds_since_last_event", "last_event_time", "started_at",
                 "episodes_per_second"):
        out.run.ClearField(name)
    return out
