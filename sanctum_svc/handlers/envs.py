"""EPOCH_COMPLETED: one env's host epoch, its seeds and its bounded series.

The most frequent event type: the handler keeps references to the payload messages and
only updates what accumulates; `EnvTrack.fill` assembles the EnvState for a snapshot.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from esper.telemetry.v1 import telemetry_pb2 as tpb
from sanctum_svc.envtrack import PLOTTED, plotted_values
from sanctum_svc.handlers.registry import handles

if TYPE_CHECKING:
    from sanctum_svc.aggregator import RunAggregator


#: A DORMANT (or unspecified) slot holds no seed, so it carries no blueprint.
_DORMANT = tpb.SEED_STAGE_DORMANT
_PLOTS_ACCURACY_REWARD = PLOTTED == ("val_accuracy", "reward")


@handles(tpb.EVENT_TYPE_EPOCH_COMPLETED)
def epoch_completed(run: RunAggregator, event: tpb.TelemetryEvent, received_at: float) -> None:
    """Update the env named by the envelope. Seeds are merged by slot id: a payload seed
    replaces the slot's state, but a live or pruned seed sent without blueprint_id keeps the
    blueprint the slot already had (a pruned seed keeps its blueprint, seed plan 000)."""
    if not event.HasField("env_id"):
        return  # the ingest layer rejects this; nothing to attribute it to
    key = (event.group_id, event.env_id)
    track = run.envs.get(key)
    if track is None:
        track = run.env(*key)
    track.last_epoch = event
    p = event.epoch_completed
    accuracy = p.val_accuracy
    reward = p.reward
    if accuracy > track.best_accuracy:
        track.best_accuracy = accuracy
    track.cumulative_reward += reward
    if _PLOTS_ACCURACY_REWARD:  # the values just read: no second read of the payload
        accuracies, rewards = track.series
        accuracies.append(accuracy)
        rewards.append(reward)
    else:
        for series, value in zip(track.series, plotted_values(p), strict=True):
            series.append(value)
    payload_seeds = p.seeds
    if not payload_seeds:
        return
    seeds = track.seeds
    for seed in payload_seeds:
        slot_id = seed.slot_id
        if not seed.blueprint_id and seed.stage > _DORMANT:  # the slot keeps its blueprint
            known = seeds.get(slot_id)
            if known is not None and known.blueprint_id:
                kept = tpb.SeedTelemetry()
                kept.CopyFrom(seed)
                kept.blueprint_id = known.blueprint_id
                seed = kept
        seeds[slot_id] = seed
