"""Build typed TelemetryEvents from the trainer's state: one small function per event type.

Pure functions: they read trainer objects and return messages; the telemetry client
fills run_id/producer_id/seq/timestamp. Nothing here touches a random generator, so
emitting cannot change training results. The per-step events (EPOCH_COMPLETED, the seed
lifecycle, decision cards) are captured instead (`capture_*`): their values copied into a
carrier of trainer_svc.capture, built into a message later and off the training thread
when the sink can take carriers.
"""

from __future__ import annotations

from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_common.events import make_event
from trainer_svc import capture
from trainer_svc.actions import HEADS
from trainer_svc.config import TrainerConfig
from trainer_svc.env import MorphoEnv, StepResult, seed_grad_norms
from trainer_svc.lifecycle import COOLDOWN, LifecycleRecord, Slot
from trainer_svc.ppo import UpdateResult

ET = tpb.EventType
SEV = tpb.Severity
#: Stages whose seed telemetry carries the counterfactual measured when it got there.
DECIDED_STAGES = frozenset(COOLDOWN) | {tpb.SEED_STAGE_FOSSILIZED}
_EPOCH_COMPLETED = ET.EVENT_TYPE_EPOCH_COMPLETED  # (an enum wrapper's attribute is slow)
_ANALYTICS_SNAPSHOT = ET.EVENT_TYPE_ANALYTICS_SNAPSHOT


def run_config(cfg: TrainerConfig, *, n_envs_total: int, world_size: int, host_params: int,
               slot_ids: list[str], blueprints: list[str], task: str, policy_device: str,
               compile_backend: str, compile_mode: str) -> tpb.RunConfig:
    """The RunConfig declared at TRAINING_STARTED (mirrors the CLI settings)."""
    return tpb.RunConfig(
        seed=cfg.seed, n_episodes=cfg.episodes, lr=cfg.lr, clip_ratio=cfg.clip_ratio,
        entropy_coef=cfg.entropy_coef, param_budget=cfg.param_budget,
        resume_path=cfg.resume_path, entropy_anneal=cfg.entropy_anneal(),
        n_envs=n_envs_total, max_epochs=cfg.max_epochs, task=task, host_params=host_params,
        slot_ids=slot_ids, policy_device=policy_device,
        env_devices=[policy_device] * n_envs_total, reward_mode="accuracy_delta-minus-rent",
        compile_enabled=cfg.compile, compile_backend=compile_backend if cfg.compile else "",
        compile_mode=compile_mode if cfg.compile else "",
        heads=[tpb.HeadSpec(head=h.head, n_actions=h.n_actions) for h in HEADS],
        blueprints=blueprints, ppo_epochs=cfg.ppo_epochs, n_minibatches=cfg.n_minibatches,
        gamma=cfg.gamma, gae_lambda=cfg.gae_lambda, world_size=world_size,
        fault_injections=cfg.fault_injections(),
    )


def training_started(config: tpb.RunConfig, rank: int) -> tpb.TelemetryEvent:
    return make_event(ET.EVENT_TYPE_TRAINING_STARTED,
                      training_started=tpb.TrainingStartedPayload(config=config, rank=rank))


def seed_values(slot: Slot, grad_norm: float | None) -> capture.SeedValues:
    """A slot's seed telemetry as plain values (grad_norm: None or finite, from
    seed_grad_norms); the counterfactual only once the seed is decided."""
    cf = slot.counterfactual if slot.stage in DECIDED_STAGES else None
    return (slot.slot_id, slot.stage, slot.blueprint_id, slot.seed_id, slot.alpha,
            slot.accuracy_delta, slot.epochs_in_stage, slot.params, grad_norm, cf)


def capture_epoch_completed(env: MorphoEnv, res: StepResult, *, episode: int, batch: int,
                            grad_norms: list[float | None]) -> capture.EpochCompleted:
    """One env's host epoch, with typed telemetry for every slot (grad_norms: one per slot,
    as seed_grad_norms gives them), captured to build later."""
    seeds = tuple([seed_values(s, g) for s, g in zip(env.slots, grad_norms, strict=True)])
    return capture.EpochCompleted(_EPOCH_COMPLETED, (
        env.env_id, env.epoch, episode, batch, res.accuracy, res.val_loss, res.train_loss,
        res.reward, env.host_params + env.params_in_use(), seeds))


def epoch_completed(env: MorphoEnv, res: StepResult, *, episode: int, batch: int
                    ) -> tpb.TelemetryEvent:
    """EPOCH_COMPLETED built at once (the loop captures it instead)."""
    return capture_epoch_completed(env, res, episode=episode, batch=batch,
                                   grad_norms=seed_grad_norms([env])[0]).build()


def capture_lifecycle(rec: LifecycleRecord, *, env_id: int, epoch: int, episode: int,
                      batch: int) -> capture.Lifecycle:
    """A seed lifecycle record as GERMINATED / STAGE_CHANGED / GATE_EVALUATED /
    FOSSILIZED / PRUNED, captured to build later."""
    event_type = capture.LIFECYCLE_TYPES.get(rec.kind)
    if event_type is None:
        raise ValueError(f"unknown lifecycle record kind {rec.kind!r}")
    return capture.Lifecycle(event_type, (
        env_id, epoch, episode, batch, rec.kind, rec.slot_id, rec.blueprint_id, rec.seed_id,
        rec.from_stage, rec.to_stage, rec.alpha, rec.params, rec.gate, rec.passed, rec.reason,
        rec.improvement, rec.epochs_total, rec.counterfactual))


def lifecycle(rec: LifecycleRecord, *, env_id: int, epoch: int, episode: int, batch: int
              ) -> tpb.TelemetryEvent:
    """A lifecycle record's event built at once (the loop captures it instead)."""
    return capture_lifecycle(rec, env_id=env_id, epoch=epoch, episode=episode,
                             batch=batch).build()


def batch_epoch_completed(*, batch_idx: int, total_episodes: int, episodes_completed: int,
                          env_accuracies: list[float], env_rewards: list[float],
                          rolling_accuracy: float) -> tpb.TelemetryEvent:
    """The commit barrier ending a batch of episodes (rewards are episode totals)."""
    n = max(1, len(env_accuracies))
    return make_event(
        ET.EVENT_TYPE_BATCH_EPOCH_COMPLETED, batch=batch_idx,
        batch_epoch_completed=tpb.BatchEpochCompletedPayload(
            avg_accuracy=sum(env_accuracies) / n, avg_reward=sum(env_rewards) / n,
            total_episodes=total_episodes, episodes_completed=episodes_completed,
            batch_idx=batch_idx, rolling_accuracy=rolling_accuracy,
            env_accuracies=env_accuracies, env_rewards=env_rewards),
    )


def ppo_update(result: UpdateResult, *, update_index: int, batch_idx: int
               ) -> tpb.TelemetryEvent:
    """PPO_UPDATE_COMPLETED: the update's payload as computed, numbered `update_index`."""
    result.payload.update_index = update_index
    return make_event(ET.EVENT_TYPE_PPO_UPDATE_COMPLETED, batch=batch_idx,
                      ppo_update=result.payload)


def anomalies(result: UpdateResult, *, batch_idx: int) -> list[tpb.TelemetryEvent]:
    """Log events for what the update's own counts say happened (skipped non-finite
    minibatches, exploding layers). Judging the metrics against thresholds is sanctum's
    health model (sanctum_svc/health), not the trainer's."""
    out: list[tpb.TelemetryEvent] = []
    st = result.payload

    def add(event_type: tpb.EventType, detail: str, value: float, threshold: float) -> None:
        out.append(make_event(event_type, severity=SEV.SEVERITY_WARNING, batch=batch_idx,
                              anomaly=tpb.AnomalyPayload(detail=detail, value=value,
                                                         threshold=threshold)))

    for count, what in ((st.nonfinite_loss_count, "loss"),
                        (st.nonfinite_grad_count, "gradients")):
        if count:
            add(ET.EVENT_TYPE_NUMERICAL_INSTABILITY_DETECTED,
                f"non-finite PPO {what} in {count} minibatch(es); their steps were skipped",
                float(count), 0.0)
    if st.exploding_layers:
        add(ET.EVENT_TYPE_GRADIENT_ANOMALY, f"{st.exploding_layers} exploding layer(s)",
            float(st.exploding_layers), 0.0)
    return out


def trend(event_type: tpb.EventType, *, metric: str, slope: float, window: int, current: float,
          batch_idx: int) -> tpb.TelemetryEvent:
    return make_event(event_type, batch=batch_idx,
                      trend=tpb.TrendPayload(metric=metric, slope=slope, window=window,
                                             current=current))


def capture_decision(*, env_id: int, action_row: list[int], probs: list[list[float]],
                     entropies: list[float], masks: list[list[bool]], relevant: list[float],
                     value: float, reward: float | None, epoch: int, episode: int, batch: int
                     ) -> capture.DecisionSnapshot:
    """ANALYTICS_SNAPSHOT with one env's decision card (see capture.build_decision_card),
    captured to build later. The rows are copied (as tuples): the caller may reuse them."""
    return capture.DecisionSnapshot(_ANALYTICS_SNAPSHOT, (
        env_id, tuple(action_row), tuple(map(tuple, probs)), tuple(entropies),
        tuple(map(tuple, masks)), tuple(relevant), value, reward, epoch, episode, batch))


def episode_outcome(env: MorphoEnv, *, episode: int, batch: int) -> tpb.TelemetryEvent:
    return make_event(ET.EVENT_TYPE_EPISODE_OUTCOME, env_id=env.env_id, epoch=env.epoch,
                      episode=episode, batch=batch,
                      episode_outcome=tpb.EpisodeOutcomePayload(
                          final_accuracy=env.accuracy, total_reward=env.total_reward,
                          params_added=env.params_in_use(), seeds_fossilized=env.fossilized,
                          seeds_pruned=env.pruned))


def checkpoint_loaded(path: str, episode: int) -> tpb.TelemetryEvent:
    return make_event(ET.EVENT_TYPE_CHECKPOINT_LOADED,
                      checkpoint_loaded=tpb.CheckpointLoadedPayload(path=path, episode=episode))


def system_vitals(payload: tpb.SystemVitalsPayload) -> tpb.TelemetryEvent:
    return make_event(ET.EVENT_TYPE_SYSTEM_VITALS, system_vitals=payload)


def memory_warning(payload: tpb.MemoryWarningPayload) -> tpb.TelemetryEvent:
    return make_event(ET.EVENT_TYPE_MEMORY_WARNING, severity=SEV.SEVERITY_WARNING,
                      memory_warning=payload)


def training_completed(*, total_episodes: int, final_accuracy: float, final_avg_reward: float,
                       wall_time_s: float, status: str) -> tpb.TelemetryEvent:
    sev = SEV.SEVERITY_INFO if status == "completed" else SEV.SEVERITY_WARNING
    return make_event(ET.EVENT_TYPE_TRAINING_COMPLETED, severity=sev,
                      training_completed=tpb.TrainingCompletedPayload(
                          total_episodes=total_episodes, final_accuracy=final_accuracy,
                          final_avg_reward=final_avg_reward, wall_time_s=wall_time_s,
                          status=status))
