"""A deterministic, fully populated SanctumSnapshot for widget, snapshot and bench tests."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

from esper.sanctum.v1 import sanctum_pb2 as spb
from esper.telemetry.v1 import telemetry_pb2 as tpb

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


def _ts(seconds: float) -> Timestamp:
    ts = Timestamp()
    ts.FromNanoseconds(int(seconds * 1e9))
    return ts


OPS = [
    (tpb.LIFECYCLE_OP_WAIT, "", ""),
    (tpb.LIFECYCLE_OP_GERMINATE, "r0c1", "lora"),
    (tpb.LIFECYCLE_OP_SET_ALPHA_TARGET, "r0c0", ""),
    (tpb.LIFECYCLE_OP_PRUNE, "r0c2", "attention"),
    (tpb.LIFECYCLE_OP_FOSSILIZE, "r0c0", "conv_light"),
    (tpb.LIFECYCLE_OP_ADVANCE, "r0c1", "mlp_small"),
]


def decision(k: int, n_envs: int = 16) -> tpb.DecisionCard:
    """Decision number `k`: ops cycle through OPS; every third has no reward yet."""
    op, slot, blueprint = OPS[k % len(OPS)]
    card = tpb.DecisionCard(
        env_id=k % n_envs,
        op=op,
        slot_id=slot,
        blueprint_id=blueprint,
        value_estimate=1.0 + 0.1 * k,
        epoch=7,
        masked_actions=k % 4,
        heads=[
            tpb.HeadChoice(
                head=tpb.ACTION_HEAD_OP,
                action=tpb.LifecycleOp.Name(op)[13:],
                probability=0.71,
                entropy=0.9,
            ),
            tpb.HeadChoice(head=tpb.ACTION_HEAD_SLOT, action=slot or "r0c0", probability=0.55),
            tpb.HeadChoice(
                head=tpb.ACTION_HEAD_BLUEPRINT, action=blueprint or "norm", probability=0.4
            ),
            tpb.HeadChoice(head=tpb.ACTION_HEAD_ALPHA_TARGET, action="0.5", probability=0.62),
        ],
    )
    if k % 3:
        card.reward = 0.01 * k
    return card


def sample_snapshot(
    n_envs: int = 16, n_slots: int = 3, version: int = 1, n_groups: int = 1
) -> spb.SanctumSnapshot:
    """A mid-run snapshot: 4.2/8.0 GB CUDA memory, compile on, 812 fps at 4.9 ms/step, CV
    0.42, clip ↑10% ↓5%, counterfactuals on pruned/fossilized seeds,
    six recent decisions, host vitals with a GPU; `n_groups` > 1 adds A/B policy groups
    (group "B" has KL 0.5: critical, and no CV measured)."""
    slots = [f"r0c{i}" for i in range(n_slots)]
    cfg = tpb.RunConfig(
        seed=42,
        n_episodes=1000,
        lr=3e-4,
        clip_ratio=0.2,
        entropy_coef=0.05,
        param_budget=1_500_000,
        entropy_anneal=tpb.EntropyAnneal(
            kind=tpb.SCHEDULE_KIND_LINEAR, start=0.05, end=0.01, anneal_episodes=500
        ),
        n_envs=n_envs,
        task="cifar10",
        slot_ids=slots,
        compile_enabled=True,
        heads=[tpb.HeadSpec(head=h, n_actions=n) for h, n in HEAD_SIZES.items()],
    )
    tamiyo = spb.TamiyoState(
        ppo_data_received=True,
        updates=12,
        policy_loss=-0.0123,
        value_loss=0.4567,
        entropy=1.234,
        kl_divergence=0.0081,
        clip_fraction=0.15,
        explained_variance=0.71,
        grad_norm=0.532,
        ratio_min=0.8,
        ratio_max=1.3,
        value_mean=1.5,
        value_std=0.4,
        value_min=0.2,
        value_max=3.1,
        advantage_std=1.0,
        pre_clip_grad_norm=1.3,
        lr=3e-4,
        entropy_coef=0.05,
        inner_epoch=4,
        batch=4,
        update_time_ms=85.0,
        total_layers=12,
        heads=[
            tpb.HeadMetrics(head=h, entropy=0.6 * (1 + i % 3) / 3 * 1.5, grad_norm=0.05 * (i + 1))
            for i, h in enumerate(HEAD_SIZES)
        ],
        gradient_quality=spb.GradientQuality(
            gradient_cv=0.42, clip_fraction_positive=0.10, clip_fraction_negative=0.05
        ),
        infrastructure=spb.Infrastructure(
            cuda_memory_allocated_gb=4.2,
            cuda_memory_reserved_gb=8.0,
            compile_enabled=True,
            fps=812.5,
            step_time_ms=4.9,
        ),
    )
    envs = []
    for e in range(n_envs):
        env = spb.EnvState(
            env_id=e,
            accuracy=50.0 + e,
            best_accuracy=55.0 + e,
            reward=0.01 * (e - 8),
            epoch=7,
            episode=3,
            accuracy_history=[40.0 + e + k for k in range(10)],
            reward_history=[0.01 * k for k in range(10)],
        )
        for s, slot in enumerate(slots):
            stage, bp = STAGES[(e + s) % len(STAGES)]
            if stage != tpb.SEED_STAGE_DORMANT:
                env.seeds[slot].CopyFrom(
                    tpb.SeedTelemetry(slot_id=slot, stage=stage, blueprint_id=bp, alpha=0.5)
                )
                if stage in (tpb.SEED_STAGE_PRUNED, tpb.SEED_STAGE_FOSSILIZED):
                    env.seeds[slot].counterfactual = 0.0125 if e % 2 else -0.004
        envs.append(env)
    series = [0.1 * ((k * 7) % 10) for k in range(30)]
    hist = spb.Histories(
        policy_loss=series,
        value_loss=series,
        entropy=series,
        kl_divergence=series,
        explained_variance=series,
        grad_norm=series,
        clip_fraction=series,
    )
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
    decisions = [decision(k, n_envs) for k in range(6)]
    tamiyo.last_decision.CopyFrom(decisions[-1])
    tamiyo.group_id = "A" if n_groups > 1 else ""
    others = []
    for g in range(1, n_groups):
        other = spb.TamiyoState()
        other.CopyFrom(tamiyo)
        other.group_id = chr(ord("A") + g)
        other.kl_divergence = 0.5
        other.updates = 9
        other.gradient_quality.ClearField("gradient_cv")
        other.last_decision.CopyFrom(decision(10 + g, n_envs))
        others.append(other)
    return spb.SanctumSnapshot(
        other_groups=others,
        recent_decisions=decisions,
        vitals=tpb.SystemVitalsPayload(
            cpu_percent=55.0,
            ram_used_gb=6.5,
            ram_total_gb=16.0,
            process_rss_gb=1.1,
            gpu_memory_used_gb=4.9,
            gpu_memory_total_gb=8.0,
            gpu_utilization=63.0,
        ),
        run_id="run-7",
        version=version,
        generated_at=_ts(NOW),
        task_name="cifar10",
        run_config=cfg,
        tamiyo=tamiyo,
        envs=envs,
        batch_total_episodes=1000,
        batch_avg_accuracy=0.57,
        batch_rolling_accuracy=0.55,
        batch_avg_reward=0.3,
        aggregate_mean_reward=-0.005,
        episodes_completed=240,
        current_batch=15,
        histories=hist,
        event_log=log,
        lifecycle=spb.LifecycleCounts(germinated=30, fossilized=6, pruned=9),
        liveness=spb.LIVENESS_LIVE,
        last_event_time=_ts(NOW - 0.5),
        seconds_since_last_event=0.5,
        delivery=spb.DeliveryStats(
            events_received=5000,
            events_applied=4990,
            events_duplicate=10,
            producers=[spb.ProducerDelivery(producer_id="trainer-0", last_seq=4990)],
        ),
        status=spb.RUN_STATUS_RUNNING,
        episodes_per_second=2.5,
    )
