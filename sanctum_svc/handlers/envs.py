"""EPOCH_COMPLETED: one env's host epoch, its seeds and its bounded histories."""

from __future__ import annotations

from typing import TYPE_CHECKING

from esper.telemetry.v1 import telemetry_pb2 as tpb
from sanctum_svc import history
from sanctum_svc.handlers.registry import handles

if TYPE_CHECKING:
    from sanctum_svc.aggregator import RunAggregator


@handles(tpb.EVENT_TYPE_EPOCH_COMPLETED)
def epoch_completed(run: RunAggregator, event: tpb.TelemetryEvent, received_at: float) -> None:
    """Update the env named by the envelope; seeds are merged by slot id."""
    if not event.HasField("env_id"):
        return  # the ingest layer rejects this; nothing to attribute it to
    p = event.epoch_completed
    env = run.env(event.group_id, event.env_id)
    env.accuracy = p.val_accuracy
    if p.val_accuracy > env.best_accuracy:
        env.best_accuracy = p.val_accuracy
    env.reward = p.reward
    env.cumulative_reward += p.reward
    env.val_loss = p.val_loss
    if event.HasField("epoch"):
        env.epoch = event.epoch
    if event.HasField("episode"):
        env.episode = event.episode
    env.host_params = p.host_params
    seeds = env.seeds
    for seed in p.seeds:
        slot = seeds[seed.slot_id]
        keep_blueprint = slot.blueprint_id if not seed.blueprint_id else ""
        slot.CopyFrom(seed)
        if keep_blueprint:
            slot.blueprint_id = keep_blueprint
    limit = run.history_len
    history.push(env.accuracy_history, p.val_accuracy, limit)
    history.push(env.reward_history, p.reward, limit)
