"""PPO_UPDATE_COMPLETED: the controller's training state per policy group."""

from __future__ import annotations

from typing import TYPE_CHECKING

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
    "batch", "update_time_ms",
)  # fmt: skip
#: Sampled CUDA fields: set only when the payload measured them.
_CUDA = (
    "cuda_memory_allocated_gb",
    "cuda_memory_reserved_gb",
    "cuda_memory_peak_gb",
    "cuda_memory_fragmentation",
)
#: Histories pushed per update of the primary group.
_HISTORIES = (
    "policy_loss", "value_loss", "entropy", "kl_divergence", "explained_variance",
    "grad_norm", "clip_fraction",
)  # fmt: skip


@handles(tpb.EVENT_TYPE_PPO_UPDATE_COMPLETED)
def ppo_update(run: RunAggregator, event: tpb.TelemetryEvent, received_at: float) -> None:
    """Copy the update's metrics into its group's TamiyoState."""
    p = event.ppo_update
    primary = run.is_primary(event.group_id)
    t = run.group(event.group_id)
    for name in _SCALARS:
        setattr(t, name, getattr(p, name))
    if p.HasField("early_stop_epoch"):
        t.early_stop_epoch = p.early_stop_epoch
    else:
        t.ClearField("early_stop_epoch")
    del t.heads[:]
    t.heads.extend(p.heads)
    gq = t.gradient_quality
    if p.HasField("gradient_cv"):  # sampled: keep the last measured value otherwise
        gq.gradient_cv = p.gradient_cv
    gq.clip_fraction_positive = p.clip_fraction_positive
    gq.clip_fraction_negative = p.clip_fraction_negative
    infra = t.infrastructure
    for name in _CUDA:
        if p.HasField(name):
            setattr(infra, name, getattr(p, name))
    t.ppo_data_received = True
    t.updates = p.update_index or t.updates + 1
    if primary:
        for name in _HISTORIES:
            run.push_history(name, getattr(p, name))
