"""Run-level events: start, batch barrier, completion, checkpoints, episodes, vitals."""

from __future__ import annotations

from typing import TYPE_CHECKING

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_common.derived import ended_status
from esper_common.presentation import getter, metric, plotted
from sanctum_svc.handlers.common import event_time
from sanctum_svc.handlers.registry import handles

if TYPE_CHECKING:
    from sanctum_svc.aggregator import RunAggregator

ET = tpb.EventType

#: Plotted BATCH_EPOCH_COMPLETED fields: their series names and a getter of their values.
_BATCH_PLOTTED = plotted(tpb.BatchEpochCompletedPayload)
_BATCH_METRICS = tuple(metric(tpb.BatchEpochCompletedPayload, n) for n in _BATCH_PLOTTED)
_batch_values = getter(_BATCH_PLOTTED)


@handles(ET.EVENT_TYPE_TRAINING_STARTED)
def training_started(run: RunAggregator, event: tpb.TelemetryEvent, received_at: float) -> None:
    """Declare the run's shape: config, task, compile settings, start time."""
    payload = event.training_started
    cfg = payload.config
    state = run.state.run
    first = run.config is None
    state.config.CopyFrom(cfg)
    run.config = state.config
    state.status = spb.RUN_STATUS_RUNNING
    if first:
        event_time(state.started_at, event, received_at)
    rank = f" rank {payload.rank}/{cfg.world_size}" if cfg.world_size > 1 else ""
    run.log(
        event,
        received_at,
        f"Training started{rank}: {cfg.task or 'task?'}, {cfg.n_envs} envs, "
        f"{cfg.n_episodes} episodes, lr={cfg.lr:g}",
    )


@handles(ET.EVENT_TYPE_BATCH_EPOCH_COMPLETED)
def batch_epoch_completed(
    run: RunAggregator, event: tpb.TelemetryEvent, received_at: float
) -> None:
    """Commit barrier: record batch aggregates and reset per-env episode state."""
    p = event.batch_epoch_completed
    state = run.state.run
    last = state.last_batch
    last.CopyFrom(p)
    # Per-env lists are left out: each env's own state carries its accuracy and reward.
    del last.env_accuracies[:]
    del last.env_rewards[:]
    if state.status == spb.RUN_STATUS_UNSPECIFIED:
        state.status = spb.RUN_STATUS_RUNNING
    for name, value in zip(_BATCH_METRICS, _batch_values(p), strict=True):
        run.push_series(name, event.group_id, value)
    # New episodes start on fresh hosts: episode-scoped env state starts over.
    group_id = event.group_id
    for (env_group, _), track in run.envs.items():
        if env_group == group_id:
            track.cumulative_reward = 0.0
            track.seeds.clear()
            track.counterfactuals.clear()
    marks = run.batch_marks
    marks.append((received_at, p.episodes_completed))
    if len(marks) >= 2:
        (t0, e0), (t1, e1) = marks[0], marks[-1]
        if t1 > t0 and e1 >= e0:
            state.episodes_per_second = (e1 - e0) / (t1 - t0)


@handles(ET.EVENT_TYPE_TRAINING_COMPLETED)
def training_completed(run: RunAggregator, event: tpb.TelemetryEvent, received_at: float) -> None:
    """The run ended: COMPLETED, STOPPED or FAILED as the trainer says, and the final numbers."""
    p = event.training_completed
    run.state.run.status = ended_status(p.status)
    run.state.run.completion.CopyFrom(p)
    run.log(
        event,
        received_at,
        f"Training {p.status or 'completed'}: {p.total_episodes} episodes, "
        f"final accuracy {p.final_accuracy:.3f}, avg reward {p.final_avg_reward:.3f}",
    )


@handles(ET.EVENT_TYPE_EPISODE_OUTCOME)
def episode_outcome(run: RunAggregator, event: tpb.TelemetryEvent, received_at: float) -> None:
    """One env's finished episode: a log line with its result."""
    p = event.episode_outcome
    episode = f" {event.episode}" if event.HasField("episode") else ""
    run.log(
        event,
        received_at,
        f"episode{episode} done: accuracy {p.final_accuracy:.3f}, "
        f"reward {p.total_reward:.2f}, {p.seeds_fossilized} fossilized, "
        f"{p.seeds_pruned} pruned, +{p.params_added:,} params",
    )


@handles(ET.EVENT_TYPE_CHECKPOINT_LOADED)
def checkpoint_loaded(run: RunAggregator, event: tpb.TelemetryEvent, received_at: float) -> None:
    p = event.checkpoint_loaded
    run.log(event, received_at, f"Resumed from checkpoint {p.path} at episode {p.episode}")


@handles(ET.EVENT_TYPE_SYSTEM_VITALS)
def system_vitals(run: RunAggregator, event: tpb.TelemetryEvent, received_at: float) -> None:
    """Host vitals replace the previous sample whole (absent GPU fields stay absent); the
    snapshot copies the latest one."""
    run.last_vitals = event.system_vitals
