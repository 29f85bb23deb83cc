"""How each numeric field of the telemetry payloads is shown: the one hand-kept list.

Everything else is read from the payload descriptors: the PPO panel's gauges (entries with a
range) and detail items (entries without), the sparklines, the heads panel's columns, the
env detail's seed table, and the bounded series sanctum keeps (`plot=True`). Order here is
display order. Adding a numeric field to a payload the snapshot embeds means adding an entry
(a test fails otherwise): `Show` to draw it generically, or `Hidden` naming the dedicated
widget that draws it (the flow footer's gradient CV) or why it is not drawn.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from esper.telemetry.v1 import telemetry_pb2 as tpb

#: What an unknown (not measured) value reads as: never 0.
DASH = "—"


#: From this magnitude on, fixed-point output is unreadable and unbounded (1e308 has 309
#: digits): numbers switch to exponent form.
FIXED_LIMIT = 1e15


def num(value: float | None, spec: str = ".3f") -> str:
    """Format a number; None (not measured) becomes "—", NaN/inf are shown as such, and
    huge magnitudes use exponent form (a fixed-point spec would print hundreds of digits)."""
    if value is None:
        return DASH
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("+inf" if value > 0 else "-inf")
    scale = 100 if spec.endswith("%") else 1
    if abs(value) * scale >= FIXED_LIMIT:
        sign = "+" if spec.startswith("+") else ""
        return format(value * scale, f"{sign}.3g") + ("%" if scale == 100 else "")
    return format(value, spec)


@dataclass(frozen=True)
class Show:
    """Draw the field generically: `label value` (a detail), or a gauge when it has a range."""

    label: str
    #: format() spec of the value ("+.3f", ".0%", "d", "g").
    spec: str = ".3f"
    #: Full-scale range of a gauge; None draws the field as a detail item.
    lo: float | None = None
    hi: float | None = None
    #: Sanctum keeps a bounded series of it; the dashboard draws it as a sparkline.
    plot: bool = False
    #: Appended to the value ("GB", "ms").
    unit: str = ""
    #: For an optional (sampled) field: show the latest measured value, which sanctum keeps
    #: until the next measurement, instead of the latest update's own (absent when unsampled).
    sampled: bool = False

    @property
    def gauge(self) -> bool:
        return self.lo is not None and self.hi is not None

    def text(self, value: float | None) -> str:
        """The value formatted with `spec` and `unit`; "—" when unknown."""
        shown = num(value, self.spec)
        return f"{shown} {self.unit}" if self.unit and value is not None else shown


@dataclass(frozen=True)
class Hidden:
    """Not drawn generically: `shown_by` names the widget that draws it, or says why not."""

    shown_by: str


Entry = Show | Hidden

_DECISION = Hidden("decision cards")
_COMPLETION = Hidden("run header: the completion line")
_VITALS = Hidden("delivery panel: the host vitals line")
_FLOW = Hidden("heads panel: the flow footer")

#: Payload message -> {field name: Entry}, for every numeric field (enums and bools aside).
PRESENTATION: dict[type[Message], dict[str, Entry]] = {
    tpb.PPOUpdatePayload: {
        # Gauges, top to bottom; each with its sparkline.
        "policy_loss": Show("Policy loss", ".4f", -0.2, 0.2, plot=True),
        "value_loss": Show("Value loss", ".4f", 0.0, 2.0, plot=True),
        "entropy": Show("Entropy", ".4f", 0.0, 3.0, plot=True),
        "kl_divergence": Show("KL", ".4f", 0.0, 0.1, plot=True),
        "explained_variance": Show("Expl. var", ".3f", -1.0, 1.0, plot=True),
        "grad_norm": Show("Grad norm", ".3f", 0.0, 10.0, plot=True),
        "clip_fraction": Show("Clip frac", ".3f", 0.0, 0.5, plot=True),
        # Detail items, left to right.
        "ratio_min": Show("ratio min", ".2f"),
        "ratio_max": Show("ratio max", ".2f"),
        "value_mean": Show("V μ", ".2f"),
        "value_std": Show("V σ", ".2f"),
        "value_min": Show("V min", ".2f"),
        "value_max": Show("V max", ".2f"),
        "advantage_mean": Show("adv μ", "+.2f"),
        "advantage_std": Show("adv σ", ".2f"),
        "pre_clip_grad_norm": Show("pre-clip GN", ".3f"),
        "lr": Show("lr", "g"),
        "entropy_coef": Show("ent_coef", "g"),
        "inner_epoch": Show("epoch", "d"),
        "batch": Show("batch", "d"),
        "update_time_ms": Show("update", ".0f", unit="ms"),
        "early_stop_epoch": Show("early stop ep", "d"),
        "optimizer_steps": Show("steps", "d"),
        "cuda_memory_peak_gb": Show("CUDA peak", ".2f", unit="GB", sampled=True),
        "cuda_memory_fragmentation": Show("CUDA frag", ".0%", sampled=True),
        # Drawn by dedicated widgets.
        "clip_fraction_positive": Hidden("clip gauge (↑) and the flow footer"),
        "clip_fraction_negative": Hidden("clip gauge (↓) and the flow footer"),
        "gradient_cv": _FLOW,
        "dead_layers": _FLOW,
        "exploding_layers": _FLOW,
        "total_layers": _FLOW,
        "cuda_memory_allocated_gb": Hidden("banner: [Mem:%] (allocated / reserved)"),
        "cuda_memory_reserved_gb": Hidden("banner: [Mem:%] (allocated / reserved)"),
        "update_index": Hidden("banner: Upd N (PolicyGroup.updates)"),
        "fps": Hidden("banner subtitle: rollout throughput"),
        "step_time_ms": Hidden("banner subtitle: rollout throughput"),
        "nonfinite_loss_count": Hidden("PPO details in red when > 0, and the banner"),
        "nonfinite_grad_count": Hidden("PPO details in red when > 0, and the banner"),
    },
    tpb.HeadMetrics: {
        "entropy": Show("entropy", ".2f"),
        "grad_norm": Show("grad norm", ".3f"),
    },
    tpb.EpochCompletedPayload: {
        "val_accuracy": Show("accuracy", ".3g", plot=True),
        "reward": Show("reward", "+.3f", plot=True),
        "val_loss": Show("val loss", ".4f"),
        "train_loss": Show("train loss", ".4f"),
        "host_params": Show("host params", ",d"),
    },
    tpb.SeedTelemetry: {
        "alpha": Show("Alpha", ".2f"),
        "accuracy_delta": Show("ΔAcc", "+.2f"),
        "epochs_in_stage": Show("Epochs", "d"),
        "params": Show("Params", ",d"),
        "grad_norm": Show("Grad", ".3f"),
        "counterfactual": Show("Contrib", "+.3f"),
    },
    tpb.BatchEpochCompletedPayload: {
        "avg_accuracy": Show("batch avg acc", ".3g", plot=True),
        "avg_reward": Show("batch reward", "+.3f", plot=True),
        "rolling_accuracy": Hidden("env table subtitle"),
        "total_episodes": Hidden("run header: ep N/total"),
        "episodes_completed": Hidden("run header: ep N/total"),
        "batch_idx": Hidden("run header: batch N"),
        "env_accuracies": Hidden("not in snapshots: each env's own state carries it"),
        "env_rewards": Hidden("not in snapshots: each env's own state carries it"),
    },
    tpb.SystemVitalsPayload: {
        name: _VITALS
        for name in ("cpu_percent", "ram_used_gb", "ram_total_gb", "process_rss_gb",
                     "gpu_memory_used_gb", "gpu_memory_total_gb", "gpu_utilization")
    },
    tpb.TrainingCompletedPayload: {
        name: _COMPLETION
        for name in ("total_episodes", "final_accuracy", "final_avg_reward", "wall_time_s")
    },
    tpb.DecisionCard: {
        name: _DECISION
        for name in ("env_id", "value_estimate", "reward", "epoch", "masked_actions")
    },
    tpb.HeadChoice: {"probability": _DECISION, "entropy": _DECISION,
                     "valid_mask": Hidden("decision cards (ignored heads dimmed)")},
}

_NUMERIC = frozenset({
    FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_INT32,
    FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_UINT64,
    FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SINT64, FieldDescriptor.TYPE_FIXED32,
    FieldDescriptor.TYPE_FIXED64, FieldDescriptor.TYPE_SFIXED32, FieldDescriptor.TYPE_SFIXED64,
})


def numeric_fields(message: type[Message]) -> list[str]:
    """Names of the numeric fields of `message` (scalars and repeated; no enums or bools)."""
    return [f.name for f in message.DESCRIPTOR.fields if f.type in _NUMERIC]


def shown(message: type[Message]) -> dict[str, Show]:
    """The drawn fields of `message`, in display order."""
    return {n: e for n, e in PRESENTATION[message].items() if isinstance(e, Show)}


def gauges(message: type[Message]) -> dict[str, Show]:
    return {n: e for n, e in shown(message).items() if e.gauge}


def details(message: type[Message]) -> dict[str, Show]:
    return {n: e for n, e in shown(message).items() if not e.gauge}


def plotted(message: type[Message]) -> tuple[str, ...]:
    """Fields of `message` that sanctum keeps a bounded series of, in display order."""
    return tuple(n for n, e in shown(message).items() if e.plot)


#: Payload message -> its field name in TelemetryEvent's `payload` oneof ("ppo_update").
PAYLOAD_FIELDS: dict[str, str] = {
    f.message_type.full_name: f.name
    for f in tpb.TelemetryEvent.DESCRIPTOR.oneofs_by_name["payload"].fields
    if f.message_type is not None
}


def metric(message: type[Message], field: str) -> str:
    """The series name of a payload field: "ppo_update.kl_divergence"."""
    return f"{PAYLOAD_FIELDS[message.DESCRIPTOR.full_name]}.{field}"


def getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """A function returning the values of `names` of a message as a tuple (even for one)."""
    if len(names) == 1:
        name = names[0]
        return lambda msg: (getattr(msg, name),)
    return attrgetter(*names)


def optional_fields(message: type[Message]) -> tuple[str, ...]:
    """Scalar fields of `message` with presence (proto3 `optional`): absent = not measured."""
    return tuple(f.name for f in message.DESCRIPTOR.fields
                 if f.has_presence and f.message_type is None)
