"""Builders of telemetry events for aggregator tests (plain generated messages)."""

from __future__ import annotations

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
            severity=tpb.SEVERITY_INFO,
            **fields,
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
