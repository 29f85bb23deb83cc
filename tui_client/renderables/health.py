"""Health rules for Tamiyo: one place that classifies metrics as ok / warning / critical.

They read a policy group's latest PPO update (`last_update`) and its last measured sampled
values (`last_measured`: gradient CV, CUDA memory).

Rules (checked in this order; the worst level wins, every tripped rule is listed):

* ``warmup``: no PPO update has arrived yet, or fewer than ``WARMUP_UPDATES`` updates.
  During warmup only *critical* rules can override it (a NaN is never "warming up").
* ``critical``: a non-finite loss / KL / grad norm, or minibatches the trainer skipped
  because their loss or gradients were not finite; exploding layers > 0; ratio_max >
  ``RATIO_EXPLOSION`` or ratio_min < ``RATIO_COLLAPSE``; KL > ``KL_CRITICAL``;
  clip fraction > ``CLIP_CRITICAL``.
* ``warning``: KL > ``KL_WARNING``; clip fraction > ``CLIP_WARNING``; gradient CV measured
  and >= 2.0 (``gradient_cv_status`` "BAD"); dead layers > 0; explained variance <
  ``EV_WARNING``; entropy collapse (mean normalised head entropy < ``ENTROPY_COLLAPSE``);
  CUDA memory > 90 %.
* otherwise ``ok``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_common.derived import gradient_cv_status, memory_usage_percent
from tui_client.renderables.fmt import num, pct

Status = Literal["ok", "warning", "critical", "warmup"]
Level = Literal["ok", "warning", "critical"]

WARMUP_UPDATES = 3
KL_WARNING = 0.03
KL_CRITICAL = 0.1
CLIP_WARNING = 0.2
CLIP_CRITICAL = 0.35
RATIO_EXPLOSION = 5.0
RATIO_COLLAPSE = 0.2
EV_WARNING = 0.0
ENTROPY_COLLAPSE = 0.1
MEMORY_WARNING_PCT = 90.0


@dataclass
class Verdict:
    """Overall status and the human-readable reasons that produced it."""

    status: Status
    reasons: list[str] = field(default_factory=list)


def head_max_entropy(run_config: tpb.RunConfig) -> dict[int, float]:
    """ActionHead -> ln(n_actions), the head's maximum entropy (heads with < 2 actions omitted)."""
    return {h.head: math.log(h.n_actions) for h in run_config.heads if h.n_actions >= 2}


def normalised_entropies(update: tpb.PPOUpdatePayload, run_config: tpb.RunConfig) -> list[float]:
    """Per-head entropy / ln(n_actions) for heads whose size is known."""
    maxima = head_max_entropy(run_config)
    return [m.entropy / maxima[m.head] for m in update.heads if m.head in maxima]


def kl_level(kl: float) -> Level:
    if not math.isfinite(kl) or kl > KL_CRITICAL:
        return "critical"
    return "warning" if kl > KL_WARNING else "ok"


def clip_level(clip: float) -> Level:
    if not math.isfinite(clip) or clip > CLIP_CRITICAL:
        return "critical"
    return "warning" if clip > CLIP_WARNING else "ok"


def ev_level(ev: float) -> Level:
    if not math.isfinite(ev):
        return "critical"
    return "warning" if ev < EV_WARNING else "ok"


def grad_level(grad_norm: float) -> Level:
    return "critical" if grad_norm > 100 else ("warning" if grad_norm > 10 else "ok")


#: Gauge colour rules by PPOUpdatePayload field; other fields are ok while finite.
GAUGE_LEVELS: dict[str, Callable[[float], Level]] = {
    "kl_divergence": kl_level,
    "clip_fraction": clip_level,
    "explained_variance": ev_level,
    "grad_norm": grad_level,
}


def gauge_level(field: str, value: float) -> Level:
    """The colour rule of a PPO gauge: non-finite is critical, then the field's rule."""
    if not math.isfinite(value):
        return "critical"
    rule = GAUGE_LEVELS.get(field)
    return rule(value) if rule is not None else "ok"


def evaluate(snapshot: spb.SanctumSnapshot, group: spb.PolicyGroup) -> Verdict:
    """Classify one policy group's controller health (see module docstring)."""
    if not group.HasField("last_update"):
        return Verdict("warmup", ["waiting for the first PPO update"])
    t = group.last_update
    critical: list[str] = []
    warning: list[str] = []
    for name in ("policy_loss", "value_loss", "kl_divergence", "grad_norm", "entropy"):
        if not math.isfinite(getattr(t, name)):
            critical.append(f"{name} is {getattr(t, name)}")
    for what, count in (("loss", t.nonfinite_loss_count), ("grads", t.nonfinite_grad_count)):
        if count:
            critical.append(f"non-finite {what} ×{count}")
    if t.exploding_layers > 0:
        critical.append(f"{t.exploding_layers} exploding layers")
    if t.ratio_max > RATIO_EXPLOSION:
        critical.append(f"ratio max {num(t.ratio_max, '.2f')} > {RATIO_EXPLOSION}")
    if 0 < t.ratio_min < RATIO_COLLAPSE:
        critical.append(f"ratio min {num(t.ratio_min, '.2f')} < {RATIO_COLLAPSE}")
    for label, level, text in (
        ("KL", kl_level(t.kl_divergence), num(t.kl_divergence)),
        ("clip", clip_level(t.clip_fraction), pct(t.clip_fraction)),
    ):
        if level == "critical":
            critical.append(f"{label} {text}")
        elif level == "warning":
            warning.append(f"{label} {text}")
    measured = group.last_measured
    if measured.HasField("gradient_cv") and gradient_cv_status(measured.gradient_cv) == "BAD":
        warning.append(f"gradient CV {num(measured.gradient_cv, '.2f')}")
    if t.dead_layers > 0:
        warning.append(f"{t.dead_layers} dead layers")
    if ev_level(t.explained_variance) == "warning":
        warning.append(f"explained variance {num(t.explained_variance, '.2f')}")
    ents = normalised_entropies(t, snapshot.run.config)
    if ents and sum(ents) / len(ents) < ENTROPY_COLLAPSE:
        warning.append("entropy collapse")
    mem = memory_usage_percent(measured)
    if mem is not None and mem > MEMORY_WARNING_PCT:
        warning.append(f"memory {num(mem, '.0f')}%")
    if critical:
        return Verdict("critical", critical + warning)
    if group.updates < WARMUP_UPDATES:
        return Verdict("warmup", [f"warmup: {group.updates}/{WARMUP_UPDATES} PPO updates"])
    if warning:
        return Verdict("warning", warning)
    return Verdict("ok", [])
