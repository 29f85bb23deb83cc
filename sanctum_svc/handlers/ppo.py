"""PPO_UPDATE_COMPLETED: the controller's training state per policy group."""

from __future__ import annotations

from operator import attrgetter
from typing import TYPE_CHECKING

from esper.sanctum.v1 import sanctum_pb2 as spb
from esper.telemetry.v1 import telemetry_pb2 as tpb
from sanctum_svc.handlers.registry import handles

if TYPE_CHECKING:
    from sanctum_svc.aggregator import RunAggregator

#: Scalars copied 1:1 from PPOUpdatePayload to TamiyoState (same names in both).
_SCALARS = (
    "policy_loss", "value_loss", "entropy", "kl_divergence", "clip_fraction",
    "explained_variance", "grad_norm", "pre_clip_grad_norm", "value_mean", "value_std",
    "value_min", "value_max", "advantage_mean", "advantage_std", "ratio_min", "ratio_max",
    "dead_layers", "exploding_layers", "total_layers", "lr", "entropy_coef", "inner_epoch",
    "batch", "update_time_ms", "nonfinite_loss_count", "nonfinite_grad_count",
    "optimizer_steps",
)  # fmt: skip
#: Sampled CUDA fields: set only when the payload measured them.
_CUDA = (
    "cuda_memory_allocated_gb",
    "cuda_memory_reserved_gb",
    "cuda_memory_peak_gb",
    "cuda_memory_fragmentation",
)
#: Per-update throughput copied to Infrastructure when the update measured it.
_THROUGHPUT = ("fps", "step_time_ms")
#: Histories pushed per update of the primary group.
_HISTORIES = (
    "policy_loss", "value_loss", "entropy", "kl_divergence", "explained_variance",
    "grad_norm", "clip_fraction",
)  # fmt: skip


_history_values = attrgetter(*_HISTORIES)


@handles(tpb.EVENT_TYPE_PPO_UPDATE_COMPLETED)
def ppo_update(run: RunAggregator, event: tpb.TelemetryEvent, received_at: float) -> None:
    """Record the update for its group. The per-update metrics are read from the latest
    payload when a snapshot is built (`fill_ppo`); here only what accumulates is kept:
    sampled values that stay until measured again, the update count and the histories."""
    p = event.ppo_update
    group_id = event.group_id
    primary = run.is_primary(group_id)
    t = run.group(group_id)
    run.last_ppo[group_id] = p
    if p.HasField("gradient_cv"):  # sampled: keep the last measured value otherwise
        t.gradient_quality.gradient_cv = p.gradient_cv
    infra = None
    for name in _CUDA:
        if p.HasField(name):
            if infra is None:
                infra = t.infrastructure
            setattr(infra, name, getattr(p, name))
    if not t.ppo_data_received:
        t.ppo_data_received = True
    t.updates = p.update_index or t.updates + 1
    if primary:
        histories = run.histories
        for name, value in zip(_HISTORIES, _history_values(p), strict=True):
            histories[name].append(value)


def fill_ppo(t: spb.TamiyoState, p: tpb.PPOUpdatePayload) -> None:
    """Copy the latest update's per-update metrics into a snapshot's TamiyoState."""
    for name, value in zip(_SCALARS, _scalar_values(p), strict=True):
        setattr(t, name, value)
    if p.HasField("early_stop_epoch"):
        t.early_stop_epoch = p.early_stop_epoch
    else:
        t.ClearField("early_stop_epoch")
    del t.heads[:]
    t.heads.extend(p.heads)
    gq = t.gradient_quality
    gq.clip_fraction_positive = p.clip_fraction_positive
    gq.clip_fraction_negative = p.clip_fraction_negative
    for name in _THROUGHPUT:
        if p.HasField(name):
            setattr(t.infrastructure, name, getattr(p, name))


_scalar_values = attrgetter(*_SCALARS)
