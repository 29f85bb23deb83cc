"""Builders of telemetry events for aggregator tests (plain generated messages)."""

from __future__ import annotations

import random

from esper.telemetry.v1 import telemetry_pb2 as tpb

RUN = "run-1"


class EventFactory:
    """Makes envelopes with increasing seq for one producer."""

    def __init__(self, run_id: str = RUN, producer_id: str = "trainer-0") -> None:
        self.run_id = run_id
        self.producer_id = producer_id
        self.seq = 0

    def make(self, event_type: int, **fields: object) -> tpb.TelemetryEvent:
        self.seq += 1
        event = tpb.TelemetryEvent(
            run_id=self.run_id,
            producer_id=self.producer_id,
            seq=self.seq,
            event_type=event_type,
            **{"severity": tpb.SEVERITY_INFO, **fields},
        )
        event.timestamp.FromNanoseconds(1_700_000_000_000_000_000 + self.seq * 1_000_000)
        return event

    def started(self, **config: object) -> tpb.TelemetryEvent:
        cfg = tpb.RunConfig(
            seed=42,
            n_episodes=100,
            lr=3e-4,
            n_envs=4,
            task="cifar10",
            slot_ids=["r0c0", "r0c1", "r1c0"],
            compile_enabled=True,
            compile_backend="inductor",
            compile_mode="reduce-overhead",
        )
        for key, value in config.items():
            if isinstance(value, list):
                cfg.ClearField(key)
                getattr(cfg, key).extend(value)
            else:
                setattr(cfg, key, value)
        return self.make(
            tpb.EVENT_TYPE_TRAINING_STARTED,
            training_started=tpb.TrainingStartedPayload(config=cfg),
        )

    def epoch(
        self,
        env_id: int,
        *,
        acc: float = 0.5,
        reward: float = 0.1,
        epoch: int = 1,
        seeds: list[tpb.SeedTelemetry] | None = None,
        group_id: str = "",
    ) -> tpb.TelemetryEvent:  # noqa: E501
        return self.make(
            tpb.EVENT_TYPE_EPOCH_COMPLETED,
            env_id=env_id,
            epoch=epoch,
            group_id=group_id,
            epoch_completed=tpb.EpochCompletedPayload(
                val_accuracy=acc,
                val_loss=1.0 - acc,
                reward=reward,
                host_params=1000,
                seeds=seeds or [],
            ),
        )

    def batch(
        self, idx: int, *, avg_reward: float = 1.5, done: int = 4, group_id: str = ""
    ) -> tpb.TelemetryEvent:
        return self.make(
            tpb.EVENT_TYPE_BATCH_EPOCH_COMPLETED,
            group_id=group_id,
            batch_epoch_completed=tpb.BatchEpochCompletedPayload(
                avg_accuracy=0.6,
                avg_reward=avg_reward,
                total_episodes=100,
                episodes_completed=done,
                batch_idx=idx,
                rolling_accuracy=0.55,
            ),
        )

    def ppo(self, *, group_id: str = "", **payload: object) -> tpb.TelemetryEvent:
        fields: dict[str, object] = {
            "policy_loss": -0.02,
            "value_loss": 0.4,
            "entropy": 1.2,
            "kl_divergence": 0.01,
            "clip_fraction": 0.1,
            "clip_fraction_positive": 0.06,
            "clip_fraction_negative": 0.04,
            "grad_norm": 0.9,
            "pre_clip_grad_norm": 1.4,
            "explained_variance": 0.3,
            "inner_epoch": 3,
            "batch": 7,
            "lr": 3e-4,
            "heads": [
                tpb.HeadMetrics(head=tpb.ACTION_HEAD_OP, entropy=1.1, grad_norm=0.2),
                tpb.HeadMetrics(head=tpb.ACTION_HEAD_SLOT, entropy=0.7, grad_norm=0.3),
                tpb.HeadMetrics(head=tpb.ACTION_HEAD_BLUEPRINT, entropy=1.9, grad_norm=0.4),
            ],
        }
        fields.update(payload)
        return self.make(
            tpb.EVENT_TYPE_PPO_UPDATE_COMPLETED,
            group_id=group_id,
            ppo_update=tpb.PPOUpdatePayload(**fields),
        )


def realistic_run(
    n_batches: int = 3, *, n_envs: int = 4, epochs: int = 5, seed: int = 0, group_id: str = ""
) -> list[tpb.TelemetryEvent]:
    """A deterministic event stream shaped like a real run: per epoch an EPOCH_COMPLETED and a
    decision per env, seed lifecycle now and then, per batch a barrier, a PPO update and vitals,
    plus occasional anomalies and trends. Every event type appears in a long enough run."""
    rng = random.Random(seed)
    f = EventFactory()
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
