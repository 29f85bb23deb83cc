"""One factory of telemetry events for tests and benchmarks: valid envelopes, payload
builders, and whole runs. `testkit.snapshots` builds snapshots from the same builders.

    p = Producer("run-1")
    p.started(n_envs=2); p.epoch(0, acc=0.6); p.ppo(kl_divergence=0.02)
    events = p.events                       # or build_run_events("run-1") / realistic_run()
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from esper.telemetry.v1 import telemetry_pb2 as tpb

RUN = "run-1"

SLOT_IDS = ("r0c0", "r0c1", "r1c0")
HEAD_ACTIONS = {
    tpb.ACTION_HEAD_OP: 6, tpb.ACTION_HEAD_SLOT: 3, tpb.ACTION_HEAD_BLUEPRINT: 8,
    tpb.ACTION_HEAD_STYLE: 4, tpb.ACTION_HEAD_TEMPO: 3, tpb.ACTION_HEAD_ALPHA_TARGET: 4,
    tpb.ACTION_HEAD_ALPHA_SPEED: 3, tpb.ACTION_HEAD_ALPHA_CURVE: 3,
}
BLUEPRINTS = ("conv_light", "attention", "norm", "depthwise", "bottleneck", "lora",
              "mlp_small", "mlp")
BASE_TIME = 1_700_000_000.0


class Producer:
    """Envelopes of one producer: consecutive seq from `start_seq`, deterministic timestamps
    (BASE_TIME + seq × 10 ms), severity INFO unless given, every event kept in `events`."""

    def __init__(self, run_id: str = RUN, producer_id: str = "trainer-0", start_seq: int = 1,
                 group_id: str = "") -> None:
        self.run_id, self.producer_id, self.group_id = run_id, producer_id, group_id
        self.seq = start_seq
        self.events: list[tpb.TelemetryEvent] = []

    def make(self, event_type: tpb.EventType, **fields: Any) -> tpb.TelemetryEvent:
        fields.setdefault("severity", tpb.SEVERITY_INFO)
        fields.setdefault("group_id", self.group_id)
        ev = tpb.TelemetryEvent(run_id=self.run_id, producer_id=self.producer_id, seq=self.seq,
                                event_type=event_type, **fields)
        ev.timestamp.FromNanoseconds(int(BASE_TIME) * 10**9 + self.seq * 10_000_000)
        self.seq += 1
        self.events.append(ev)
        return ev

    def started(self, **config: Any) -> tpb.TelemetryEvent:
        """TRAINING_STARTED with a small config (4 envs, 3 slots, compile on); keyword
        arguments replace RunConfig fields."""
        cfg = tpb.RunConfig(
            seed=42, n_episodes=100, lr=3e-4, n_envs=4, task="cifar10",
            slot_ids=list(SLOT_IDS), compile_enabled=True, compile_backend="inductor",
            compile_mode="reduce-overhead")
        for key, value in config.items():
            if isinstance(value, list):
                cfg.ClearField(key)
                getattr(cfg, key).extend(value)
            else:
                setattr(cfg, key, value)
        return self.make(tpb.EVENT_TYPE_TRAINING_STARTED,
                         training_started=tpb.TrainingStartedPayload(config=cfg))

    def epoch(self, env_id: int, *, acc: float = 0.5, reward: float = 0.1, epoch: int = 1,
              seeds: list[tpb.SeedTelemetry] | None = None, **fields: Any) -> tpb.TelemetryEvent:
        return self.make(tpb.EVENT_TYPE_EPOCH_COMPLETED, env_id=env_id, epoch=epoch,
                         epoch_completed=tpb.EpochCompletedPayload(
                             val_accuracy=acc, val_loss=1.0 - acc, reward=reward,
                             host_params=1000, seeds=seeds or []), **fields)

    def batch(self, idx: int, *, avg_reward: float = 1.5, done: int = 4, **fields: Any
              ) -> tpb.TelemetryEvent:
        return self.make(tpb.EVENT_TYPE_BATCH_EPOCH_COMPLETED,
                         batch_epoch_completed=tpb.BatchEpochCompletedPayload(
                             avg_accuracy=0.6, avg_reward=avg_reward, total_episodes=100,
                             episodes_completed=done, batch_idx=idx, rolling_accuracy=0.55),
                         **fields)

    def ppo(self, *, group_id: str | None = None, **payload: Any) -> tpb.TelemetryEvent:
        """PPO_UPDATE_COMPLETED with plausible values; keyword arguments replace payload
        fields (None leaves an optional field unset)."""
        fields: dict[str, Any] = {
            "policy_loss": -0.02, "value_loss": 0.4, "entropy": 1.2, "kl_divergence": 0.01,
            "clip_fraction": 0.1, "clip_fraction_positive": 0.06,
            "clip_fraction_negative": 0.04, "grad_norm": 0.9, "pre_clip_grad_norm": 1.4,
            "explained_variance": 0.3, "inner_epoch": 3, "batch": 7, "lr": 3e-4,
            "heads": [tpb.HeadMetrics(head=tpb.ACTION_HEAD_OP, entropy=1.1, grad_norm=0.2),
                      tpb.HeadMetrics(head=tpb.ACTION_HEAD_SLOT, entropy=0.7, grad_norm=0.3),
                      tpb.HeadMetrics(head=tpb.ACTION_HEAD_BLUEPRINT, entropy=1.9,
                                      grad_norm=0.4)],
        }
        fields.update(payload)
        envelope = {} if group_id is None else {"group_id": group_id}
        return self.make(tpb.EVENT_TYPE_PPO_UPDATE_COMPLETED,
                         ppo_update=tpb.PPOUpdatePayload(**fields), **envelope)


def run_config(n_envs: int = 2, slot_ids: Sequence[str] = SLOT_IDS, seed: int | None = 42,
               n_episodes: int = 100, compile_enabled: bool = True) -> tpb.RunConfig:
    cfg = tpb.RunConfig(
        n_episodes=n_episodes, lr=3e-4, clip_ratio=0.2, entropy_coef=0.01,
        param_budget=500_000, entropy_anneal=tpb.EntropyAnneal(
            kind=tpb.SCHEDULE_KIND_LINEAR, start=0.05, end=0.01, anneal_episodes=80),
        n_envs=n_envs, max_epochs=25, task="cifar10", host_params=1_200_000,
        slot_ids=list(slot_ids), policy_device="cpu", env_devices=["cpu"] * n_envs,
        reward_mode="shaped", compile_enabled=compile_enabled,
        compile_backend="inductor" if compile_enabled else "",
        compile_mode="default" if compile_enabled else "",
        heads=[tpb.HeadSpec(head=h, n_actions=n) for h, n in HEAD_ACTIONS.items()],
        blueprints=list(BLUEPRINTS), ppo_epochs=4, n_minibatches=4, gamma=0.99,
        gae_lambda=0.95, world_size=1)
    if seed is not None:
        cfg.seed = seed
    return cfg


def ppo_payload(update: int, cuda_memory: tuple[float, float] | None,
                measure_cv: bool) -> tpb.PPOUpdatePayload:
    k = update + 1
    p = tpb.PPOUpdatePayload(
        policy_loss=-0.02 / k, value_loss=0.5 / k, entropy=1.2 - 0.01 * k,
        kl_divergence=0.01, clip_fraction=0.15, clip_fraction_positive=0.10,
        clip_fraction_negative=0.05, grad_norm=0.8, pre_clip_grad_norm=1.3,
        explained_variance=0.3 + 0.05 * k, value_mean=1.5, value_std=0.4, value_min=0.2,
        value_max=3.1, advantage_mean=0.0, advantage_std=1.0, ratio_min=0.7, ratio_max=1.4,
        dead_layers=1, exploding_layers=0, total_layers=12, inner_epoch=4, batch=4,
        update_time_ms=85.0, lr=3e-4, entropy_coef=0.01, update_index=k, fps=812.5,
        step_time_ms=4.9, optimizer_steps=16,
        heads=[tpb.HeadMetrics(head=h, entropy=0.5 + 0.1 * h, grad_norm=0.05 * h)
               for h in HEAD_ACTIONS])
    if measure_cv:
        p.gradient_cv = 0.42
    if cuda_memory is not None:
        allocated, reserved = cuda_memory
        p.cuda_memory_allocated_gb = allocated
        p.cuda_memory_reserved_gb = reserved
        p.cuda_memory_peak_gb = allocated * 1.2
        p.cuda_memory_fragmentation = 1 - allocated / reserved
    return p


def build_run_events(run_id: str = "run-1", producer_id: str = "trainer-0", *,
                     n_batches: int = 2, epochs_per_batch: int = 2, start_seq: int = 1,
                     n_envs: int = 2, slot_ids: Sequence[str] = SLOT_IDS,
                     seed: int | None = 42, group_id: str = "",
                     cuda_memory: tuple[float, float] | None = (4.2, 8.0),
                     compile_enabled: bool = True, completed: bool = False,
                     ) -> list[tpb.TelemetryEvent]:
    """A realistic valid run: TRAINING_STARTED (3 slots, 2 envs, 8 heads), epochs, PPO
    updates, batches, a seed that fossilizes (env 0, r0c0, conv_light) and a culled seed
    (env 1, r0c1, attention), decision cards and vitals; seq consecutive from start_seq.

    Values the UI tests look for: clip ±10%/5%, CUDA memory 4.2/8.0 GB (when given),
    gradient CV 0.42 on even updates.
    """
    e = Producer(run_id, producer_id, start_seq, group_id)
    cfg = run_config(n_envs, slot_ids, seed, compile_enabled=compile_enabled)
    e.make(tpb.EVENT_TYPE_TRAINING_STARTED,
           training_started=tpb.TrainingStartedPayload(config=cfg))
    slots = list(slot_ids)
    fossil_env, cull_env = 0, min(1, n_envs - 1)
    fossil_slot, cull_slot = slots[0], slots[1 % len(slots)]
    e.make(tpb.EVENT_TYPE_SEED_GERMINATED, env_id=fossil_env, epoch=0,
           seed_germinated=tpb.SeedGerminatedPayload(
               slot_id=fossil_slot, blueprint_id="conv_light", seed_id="seed-a", params=12_000))
    e.make(tpb.EVENT_TYPE_SEED_GERMINATED, env_id=cull_env, epoch=0,
           seed_germinated=tpb.SeedGerminatedPayload(
               slot_id=cull_slot, blueprint_id="attention", seed_id="seed-b", params=30_000))
    stages = {fossil_env: tpb.SEED_STAGE_GERMINATED, cull_env: tpb.SEED_STAGE_GERMINATED}
    epoch = 0
    episodes = 0
    for b in range(n_batches):
        for _ in range(epochs_per_batch):
            epoch += 1
            for env in range(n_envs):
                seeds = []
                if env == fossil_env:
                    seeds.append(tpb.SeedTelemetry(
                        slot_id=fossil_slot, stage=stages[fossil_env], blueprint_id="conv_light",
                        seed_id="seed-a", alpha=min(1.0, 0.2 * epoch),
                        accuracy_delta=0.01 * epoch, epochs_in_stage=1, params=12_000,
                        grad_norm=0.3))
                e.make(tpb.EVENT_TYPE_EPOCH_COMPLETED, env_id=env, epoch=epoch, episode=episodes,
                       batch=b, epoch_completed=tpb.EpochCompletedPayload(
                           val_accuracy=0.5 + 0.01 * epoch + 0.005 * env, val_loss=1.0 / epoch,
                           train_loss=1.1 / epoch, reward=0.1 * epoch - 0.02 * env,
                           host_params=1_200_000, seeds=seeds))
        if b == 0:
            e.make(tpb.EVENT_TYPE_SEED_GATE_EVALUATED, env_id=fossil_env, epoch=epoch,
                   seed_gate_evaluated=tpb.SeedGateEvaluatedPayload(
                       slot_id=fossil_slot, gate="G1", passed=True,
                       target_stage=tpb.SEED_STAGE_TRAINING, reason="gradient healthy"))
            e.make(tpb.EVENT_TYPE_SEED_STAGE_CHANGED, env_id=fossil_env, epoch=epoch,
                   seed_stage_changed=tpb.SeedStageChangedPayload(
                       slot_id=fossil_slot, from_stage=tpb.SEED_STAGE_GERMINATED,
                       to_stage=tpb.SEED_STAGE_TRAINING, blueprint_id="conv_light", alpha=0.0))
            stages[fossil_env] = tpb.SEED_STAGE_TRAINING
        if b == n_batches - 1:
            e.make(tpb.EVENT_TYPE_SEED_FOSSILIZED, env_id=fossil_env, epoch=epoch,
                   seed_fossilized=tpb.SeedFossilizedPayload(
                       slot_id=fossil_slot, blueprint_id="conv_light", params_added=12_000,
                       improvement=0.031, epochs_total=epoch, counterfactual=0.0125))
            e.make(tpb.EVENT_TYPE_SEED_CULLED, severity=tpb.SEVERITY_WARNING, env_id=cull_env,
                   epoch=epoch, seed_pruned=tpb.SeedPrunedPayload(
                       slot_id=cull_slot, blueprint_id="attention", reason="no improvement",
                       improvement=-0.004, epochs_total=epoch,
                       from_stage=tpb.SEED_STAGE_GERMINATED))
        for env in range(n_envs):
            e.make(tpb.EVENT_TYPE_ANALYTICS_SNAPSHOT, env_id=env, epoch=epoch,
                   analytics_snapshot=tpb.AnalyticsSnapshotPayload(decision=tpb.DecisionCard(
                       env_id=env, op=tpb.LIFECYCLE_OP_WAIT, value_estimate=1.2, epoch=epoch,
                       reward=0.05, heads=[tpb.HeadChoice(head=tpb.ACTION_HEAD_OP,
                                                          action="WAIT", probability=0.7,
                                                          entropy=0.9)])))
        episodes += n_envs
        rewards = [0.1 * epoch - 0.02 * env for env in range(n_envs)]
        accs = [0.5 + 0.01 * epoch + 0.005 * env for env in range(n_envs)]
        e.make(tpb.EVENT_TYPE_BATCH_EPOCH_COMPLETED, batch=b, episode=episodes,
               batch_epoch_completed=tpb.BatchEpochCompletedPayload(
                   avg_accuracy=sum(accs) / n_envs, avg_reward=sum(rewards) / n_envs,
                   total_episodes=cfg.n_episodes, episodes_completed=episodes, batch_idx=b,
                   rolling_accuracy=sum(accs) / n_envs, env_accuracies=accs,
                   env_rewards=rewards))
        e.make(tpb.EVENT_TYPE_PPO_UPDATE_COMPLETED, batch=b, episode=episodes,
               ppo_update=ppo_payload(b, cuda_memory, measure_cv=b % 2 == 0))
        e.make(tpb.EVENT_TYPE_SYSTEM_VITALS, system_vitals=tpb.SystemVitalsPayload(
            cpu_percent=55.0, ram_used_gb=6.5, ram_total_gb=16.0, process_rss_gb=1.1))
    if completed:
        e.make(tpb.EVENT_TYPE_TRAINING_COMPLETED, training_completed=tpb.TrainingCompletedPayload(
            total_episodes=episodes, final_accuracy=0.6, final_avg_reward=0.3, wall_time_s=12.0,
            status="completed"))
    return e.events


def realistic_run(
    n_batches: int = 3, *, n_envs: int = 4, epochs: int = 5, seed: int = 0, group_id: str = ""
) -> list[tpb.TelemetryEvent]:
    """A deterministic event stream shaped like a real run: per epoch an EPOCH_COMPLETED and a
    decision per env, seed lifecycle now and then, per batch a barrier, a PPO update and vitals,
    plus occasional anomalies and trends. Every event type appears in a long enough run."""
    rng = random.Random(seed)
    f = Producer()
    slots = ["r0c0", "r0c1", "r1c0"]
    blueprints = ["conv_light", "attention", "norm", "lora"]
    events = [f.started(n_envs=n_envs, slot_ids=slots, world_size=1)]
    events.append(
        f.make(
            tpb.EVENT_TYPE_CHECKPOINT_LOADED,
            checkpoint_loaded=tpb.CheckpointLoadedPayload(path="/ckpt/a.pt", episode=0),
        )
    )
    done = 0
    for b in range(1, n_batches + 1):
        for ep in range(1, epochs + 1):
            for env in range(n_envs):
                slot = rng.choice(slots)
                roll = rng.random()
                if roll < 0.05:
                    events.append(f.make(
                        tpb.EVENT_TYPE_SEED_GERMINATED, env_id=env, epoch=ep, group_id=group_id,
                        seed_germinated=tpb.SeedGerminatedPayload(
                            slot_id=slot, blueprint_id=rng.choice(blueprints),
                            seed_id=f"s{f.seq}", params=rng.randrange(100, 5000)),
                    ))  # fmt: skip
                elif roll < 0.08:
                    events.append(f.make(
                        tpb.EVENT_TYPE_SEED_STAGE_CHANGED, env_id=env, epoch=ep,
                        group_id=group_id,
                        seed_stage_changed=tpb.SeedStageChangedPayload(
                            slot_id=slot, from_stage=tpb.SEED_STAGE_TRAINING,
                            to_stage=tpb.SEED_STAGE_BLENDING, alpha=rng.random()),
                    ))  # fmt: skip
                elif roll < 0.10:
                    events.append(f.make(
                        tpb.EVENT_TYPE_SEED_GATE_EVALUATED, env_id=env, group_id=group_id,
                        seed_gate_evaluated=tpb.SeedGateEvaluatedPayload(
                            slot_id=slot, gate="G2", passed=rng.random() < 0.5,
                            target_stage=tpb.SEED_STAGE_HOLDING),
                    ))  # fmt: skip
                elif roll < 0.11:
                    events.append(f.make(
                        tpb.EVENT_TYPE_SEED_FOSSILIZED, env_id=env, group_id=group_id,
                        seed_fossilized=tpb.SeedFossilizedPayload(
                            slot_id=slot, params_added=300, improvement=0.4),
                    ))  # fmt: skip
                elif roll < 0.13:
                    kind = rng.choice([tpb.EVENT_TYPE_SEED_PRUNED, tpb.EVENT_TYPE_SEED_CULLED])
                    events.append(f.make(
                        kind, env_id=env, group_id=group_id,
                        seed_pruned=tpb.SeedPrunedPayload(slot_id=slot, reason="regressed"),
                    ))  # fmt: skip
                seeds = [
                    tpb.SeedTelemetry(slot_id=s, stage=tpb.SEED_STAGE_TRAINING,
                                      blueprint_id=blueprints[i], alpha=rng.random(),
                                      epochs_in_stage=ep)
                    for i, s in enumerate(slots)
                ]  # fmt: skip
                events.append(f.epoch(env, acc=rng.random(), reward=rng.uniform(-1, 1),
                                      epoch=ep, seeds=seeds, group_id=group_id))  # fmt: skip
                events.append(f.make(
                    tpb.EVENT_TYPE_ANALYTICS_SNAPSHOT, env_id=env, group_id=group_id,
                    analytics_snapshot=tpb.AnalyticsSnapshotPayload(decision=tpb.DecisionCard(
                        env_id=env, op=tpb.LIFECYCLE_OP_WAIT, slot_id=slot, epoch=ep,
                        value_estimate=rng.random(),
                        heads=[tpb.HeadChoice(head=tpb.ACTION_HEAD_OP, action="WAIT",
                                              probability=0.8, entropy=0.5)])),
                ))  # fmt: skip
        for env in range(n_envs):
            events.append(f.make(
                tpb.EVENT_TYPE_EPISODE_OUTCOME, env_id=env, episode=done + env,
                episode_outcome=tpb.EpisodeOutcomePayload(final_accuracy=rng.random()),
            ))  # fmt: skip
        done += n_envs
        events.append(f.batch(b, avg_reward=rng.uniform(-1, 1), done=done, group_id=group_id))
        events.append(f.ppo(group_id=group_id, update_index=b,
                            gradient_cv=rng.random() if b % 3 == 0 else None))  # fmt: skip
        events.append(f.make(
            tpb.EVENT_TYPE_SYSTEM_VITALS,
            system_vitals=tpb.SystemVitalsPayload(cpu_percent=rng.uniform(0, 100), ram_used_gb=3),
        ))  # fmt: skip
        events.append(f.make(
            tpb.EVENT_TYPE_METRICS,
            metrics=tpb.MetricsPayload(step=b, metrics=[tpb.Metric(name="loss",
                                                                    value=rng.random())]),
        ))  # fmt: skip
        if b % 2 == 0:  # alerts cycle through their types
            events.append(f.make(
                ([tpb.EVENT_TYPE_RATIO_EXPLOSION_DETECTED,
                            tpb.EVENT_TYPE_RATIO_COLLAPSE_DETECTED,
                            tpb.EVENT_TYPE_VALUE_COLLAPSE_DETECTED,
                            tpb.EVENT_TYPE_NUMERICAL_INSTABILITY_DETECTED,
                            tpb.EVENT_TYPE_GRADIENT_ANOMALY])[b // 2 % 5],
                anomaly=tpb.AnomalyPayload(detail="ratio", value=5.0, threshold=3.0),
            ))  # fmt: skip
            events.append(f.make(
                ([tpb.EVENT_TYPE_PLATEAU_DETECTED, tpb.EVENT_TYPE_DEGRADATION_DETECTED,
                  tpb.EVENT_TYPE_IMPROVEMENT_DETECTED])[b // 2 % 3],
                trend=tpb.TrendPayload(metric="val_accuracy", slope=0.001, window=10),
            ))  # fmt: skip
            events.append(f.make(
                tpb.EVENT_TYPE_MEMORY_WARNING,
                memory_warning=tpb.MemoryWarningPayload(device="cuda:0", used_gb=7, total_gb=8),
            ))  # fmt: skip
    events.append(f.make(
        tpb.EVENT_TYPE_TRAINING_COMPLETED,
        training_completed=tpb.TrainingCompletedPayload(total_episodes=done, status="completed"),
    ))  # fmt: skip
    return events
