"""Build typed TelemetryEvents from the trainer's state: one small function per event type.

Pure functions: they read trainer objects and return messages; the telemetry client
fills run_id/producer_id/seq/timestamp. Nothing here touches a random generator, so
emitting cannot change training results.
"""

from __future__ import annotations

import math
from typing import Any

from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_common.events import make_event
from trainer_svc.actions import HEADS, OPS, SLOT_IDS
from trainer_svc.blueprints import BLUEPRINT_IDS
from trainer_svc.config import TrainerConfig
from trainer_svc.env import MorphoEnv, StepResult
from trainer_svc.lifecycle import COOLDOWN, LifecycleRecord, Slot
from trainer_svc.masks import valid_bits
from trainer_svc.ppo import UpdateResult

ET = tpb.EventType
SEV = tpb.Severity
#: Stages whose seed telemetry carries the counterfactual measured when it got there.
DECIDED_STAGES = frozenset(COOLDOWN) | {tpb.SEED_STAGE_FOSSILIZED}

#: Anomaly thresholds (PPO health).
RATIO_EXPLOSION = 5.0
RATIO_COLLAPSE = 0.1
VALUE_COLLAPSE_STD = 1e-4


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


def seed_telemetry(env: MorphoEnv, slot: Slot) -> tpb.SeedTelemetry:
    st = tpb.SeedTelemetry(
        slot_id=slot.slot_id, stage=slot.stage, blueprint_id=slot.blueprint_id,
        seed_id=slot.seed_id, alpha=slot.alpha, accuracy_delta=slot.accuracy_delta,
        epochs_in_stage=slot.epochs_in_stage, params=slot.params,
    )
    gn = env.seed_grad_norm(slot)
    if gn is not None and math.isfinite(gn):
        st.grad_norm = gn
    if slot.counterfactual is not None and slot.stage in DECIDED_STAGES:
        st.counterfactual = slot.counterfactual
    return st


def epoch_completed(env: MorphoEnv, res: StepResult, *, episode: int, batch: int
                    ) -> tpb.TelemetryEvent:
    """One env's host epoch, with typed telemetry for every slot."""
    return make_event(
        ET.EVENT_TYPE_EPOCH_COMPLETED, env_id=env.env_id, epoch=env.epoch, episode=episode,
        batch=batch,
        epoch_completed=tpb.EpochCompletedPayload(
            val_accuracy=res.accuracy, val_loss=res.val_loss, train_loss=res.train_loss,
            reward=res.reward, host_params=env.host_params + env.params_in_use(),
            seeds=[seed_telemetry(env, s) for s in env.slots],
        ),
    )


def lifecycle(rec: LifecycleRecord, *, env_id: int, epoch: int, episode: int, batch: int
              ) -> tpb.TelemetryEvent:
    """A seed lifecycle record as GERMINATED / STAGE_CHANGED / GATE_EVALUATED /
    FOSSILIZED / PRUNED."""
    env: dict[str, Any] = dict(env_id=env_id, epoch=epoch, episode=episode, batch=batch)
    if rec.kind == "germinated":
        return make_event(ET.EVENT_TYPE_SEED_GERMINATED, **env,
                          seed_germinated=tpb.SeedGerminatedPayload(
                              slot_id=rec.slot_id, blueprint_id=rec.blueprint_id,
                              seed_id=rec.seed_id, params=rec.params))
    if rec.kind == "stage_changed":
        return make_event(ET.EVENT_TYPE_SEED_STAGE_CHANGED, **env,
                          seed_stage_changed=tpb.SeedStageChangedPayload(
                              slot_id=rec.slot_id, from_stage=rec.from_stage,
                              to_stage=rec.to_stage, blueprint_id=rec.blueprint_id,
                              alpha=rec.alpha))
    if rec.kind == "gate":
        return make_event(ET.EVENT_TYPE_SEED_GATE_EVALUATED, **env,
                          severity=SEV.SEVERITY_INFO if rec.passed else SEV.SEVERITY_DEBUG,
                          seed_gate_evaluated=tpb.SeedGateEvaluatedPayload(
                              slot_id=rec.slot_id, gate=rec.gate, passed=rec.passed,
                              target_stage=rec.to_stage, reason=rec.reason))
    if rec.kind == "fossilized":
        return make_event(ET.EVENT_TYPE_SEED_FOSSILIZED, **env,
                          seed_fossilized=tpb.SeedFossilizedPayload(
                              slot_id=rec.slot_id, blueprint_id=rec.blueprint_id,
                              params_added=rec.params, improvement=rec.improvement,
                              epochs_total=rec.epochs_total, counterfactual=rec.counterfactual))
    if rec.kind == "pruned":
        return make_event(ET.EVENT_TYPE_SEED_PRUNED, **env, severity=SEV.SEVERITY_WARNING,
                          seed_pruned=tpb.SeedPrunedPayload(
                              slot_id=rec.slot_id, blueprint_id=rec.blueprint_id,
                              reason=rec.reason, improvement=rec.improvement,
                              epochs_total=rec.epochs_total, from_stage=rec.from_stage,
                              counterfactual=rec.counterfactual))
    raise ValueError(f"unknown lifecycle record kind {rec.kind!r}")


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
    """Events for each PPO-health detector that fired on this update."""
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
    if st.ratio_max > RATIO_EXPLOSION:
        add(ET.EVENT_TYPE_RATIO_EXPLOSION_DETECTED, "importance ratio exploded",
            st.ratio_max, RATIO_EXPLOSION)
    if 0.0 < st.ratio_min < RATIO_COLLAPSE:
        add(ET.EVENT_TYPE_RATIO_COLLAPSE_DETECTED, "importance ratio collapsed",
            st.ratio_min, RATIO_COLLAPSE)
    if st.value_std < VALUE_COLLAPSE_STD:
        add(ET.EVENT_TYPE_VALUE_COLLAPSE_DETECTED, "value estimates collapsed to a constant",
            st.value_std, VALUE_COLLAPSE_STD)
    if st.exploding_layers:
        add(ET.EVENT_TYPE_GRADIENT_ANOMALY, f"{st.exploding_layers} exploding layer(s)",
            float(st.exploding_layers), 0.0)
    return out


def trend(event_type: tpb.EventType, *, metric: str, slope: float, window: int, current: float,
          batch_idx: int) -> tpb.TelemetryEvent:
    return make_event(event_type, batch=batch_idx,
                      trend=tpb.TrendPayload(metric=metric, slope=slope, window=window,
                                             current=current))


def decision_card(*, env: MorphoEnv, action_row: list[int], probs: list[list[float]],
                  entropies: list[float], masks: list[list[bool]], relevant: list[float],
                  value: float, reward: float | None, epoch: int) -> tpb.DecisionCard:
    """The controller's last choice for one env, head by head: every head's action, its
    probability and entropy, whether it mattered for the op and which of its actions the
    masks allowed. masked_actions counts the invalid actions of the heads that mattered."""
    op = OPS[action_row[0]]
    heads = []
    masked = 0
    for i, h in enumerate(HEADS):
        choice = tpb.HeadChoice(head=h.head, action=h.labels[action_row[i]],
                                probability=probs[i][action_row[i]], entropy=entropies[i])
        if relevant[i]:
            row = masks[i][:h.n_actions]
            choice.relevant, choice.valid_mask = True, valid_bits(row)
            masked += h.n_actions - sum(row)
        heads.append(choice)
    card = tpb.DecisionCard(
        env_id=env.env_id, op=op, value_estimate=value, epoch=epoch, masked_actions=masked,
        slot_id=SLOT_IDS[action_row[1]] if op != tpb.LIFECYCLE_OP_WAIT else "",
        blueprint_id=BLUEPRINT_IDS[action_row[2]] if op == tpb.LIFECYCLE_OP_GERMINATE else "",
        heads=heads,
    )
    if reward is not None:
        card.reward = reward
    return card


def analytics_snapshot(card: tpb.DecisionCard, *, episode: int, batch: int
                       ) -> tpb.TelemetryEvent:
    return make_event(ET.EVENT_TYPE_ANALYTICS_SNAPSHOT, env_id=card.env_id, epoch=card.epoch,
                      episode=episode, batch=batch,
                      analytics_snapshot=tpb.AnalyticsSnapshotPayload(decision=card))


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
