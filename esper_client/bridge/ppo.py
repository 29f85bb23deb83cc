"""PPO_UPDATE_COMPLETED: losses, per-head entropy and gradient norm, clip fractions,
gradient quality and infrastructure."""

from __future__ import annotations

from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_client.bridge.context import Ctx
from esper_client.bridge.registry import maps
from esper_client.bridge.values import set_fields

AH = tpb.ActionHead

#: Doubles with the same name and meaning in both systems.
SAME_DOUBLES = (
    "policy_loss", "value_loss", "entropy", "kl_divergence", "clip_fraction",
    "clip_fraction_positive", "clip_fraction_negative", "gradient_cv", "grad_norm",
    "pre_clip_grad_norm", "explained_variance", "value_mean", "value_std", "value_min",
    "value_max", "advantage_mean", "advantage_std", "ratio_min", "ratio_max",
    "update_time_ms", "lr", "entropy_coef",
)  # fmt: skip
#: Not mapped on purpose: the original's `inner_epoch` is the host epoch and `batch` the
#: batch index (the envelope's batch), where ours count PPO epochs and minibatches;
#: `ppo_updates_count` counts updates of one batch, not of the run.
SAME_U32 = ("dead_layers", "exploding_layers", "early_stop_epoch")
CUDA = ("cuda_memory_allocated_gb", "cuda_memory_reserved_gb", "cuda_memory_peak_gb",
        "cuda_memory_fragmentation")
#: Head -> its name in the original's `head_<name>_entropy` / `head_<name>_grad_norm`.
HEAD_KEYS = {
    AH.ACTION_HEAD_OP: "op", AH.ACTION_HEAD_SLOT: "slot",
    AH.ACTION_HEAD_BLUEPRINT: "blueprint", AH.ACTION_HEAD_STYLE: "style",
    AH.ACTION_HEAD_TEMPO: "tempo", AH.ACTION_HEAD_ALPHA_TARGET: "alpha_target",
    AH.ACTION_HEAD_ALPHA_SPEED: "alpha_speed", AH.ACTION_HEAD_ALPHA_CURVE: "alpha_curve",
}


@maps("PPO_UPDATE_COMPLETED")
def ppo_update(c: Ctx) -> tpb.TelemetryEvent:
    """Values the original does not measure stay absent (optional fields) or 0; CUDA
    memory only when the allocator reserved any (the original writes 0.0 on CPU)."""
    v = c.v
    p = tpb.PPOUpdatePayload()
    set_fields(p, **{name: v.num(name) for name in SAME_DOUBLES})
    set_fields(p, **{name: v.u32(name) for name in SAME_U32})
    reserved = v.num("cuda_memory_reserved_gb")
    if reserved:
        set_fields(p, **{name: v.num(name) for name in CUDA})
    layers = c.data.get("layer_gradient_health")
    if isinstance(layers, dict):
        p.total_layers = min(len(layers), 2**32 - 1)
    for head, key in HEAD_KEYS.items():
        entropy = v.num(f"head_{key}_entropy")
        grad_norm = v.num(f"head_{key}_grad_norm")
        if entropy is None and grad_norm is None:
            continue
        p.heads.append(set_fields(tpb.HeadMetrics(head=head), entropy=entropy,
                                  grad_norm=grad_norm))
    return c.event(tpb.EVENT_TYPE_PPO_UPDATE_COMPLETED, batch=v.u64("batch"), ppo_update=p)
