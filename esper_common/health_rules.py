"""The one table of health rules: every threshold sanctum judges by (and the trainer's per-layer
dead/exploding cut-offs) lives here, on the shared floor so no service imports another.

Each rule reads one observed value per PPO update (or, for `stall`, per snapshot) and fires
when the value is past its warning/critical threshold on `rise_after` consecutive
evaluations; it clears after `clear_after` consecutive evaluations back inside (hysteresis,
so one noisy update does not flip the banner). Thresholds were set with
`python -m bench.calibrate_health` (healthy runs over several seeds, plus a constructed
fault per rule); the README's "Health rules" table is checked against this one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Direction = Literal["above", "below"]

#: PPO updates (per group) before non-critical findings are reported.
WARMUP_UPDATES = 10
#: Updates of the run's own history that relative rules (KL spike, value divergence,
#: throughput drop) compare against, by median.
BASELINE_UPDATES = 20
#: Below this KL a spike relative to the median is sampling noise, not a jump.
KL_FLOOR = 0.02
#: |clip+ - clip-| / clip above which clipping counts as one-sided.
CLIP_ASYMMETRY = 0.8
#: How the trainer counts a layer as dead / exploding (its gradient norm) in the
#: dead_layers / exploding_layers it reports: the trainer reads them from here.
LAYER_DEAD_GRAD_NORM = 1e-8
LAYER_EXPLODING_GRAD_NORM = 1e2


@dataclass(frozen=True)
class Rule:
    id: str
    reads: str
    direction: Direction
    warning: float | None
    critical: float | None
    rise_after: int
    clear_after: int
    reason: str
    #: The snapshot field whose gauge the finding colours ("" for none).
    metric: str = ""

    def level(self, value: float) -> tuple[int, float | None]:
        """(2 critical | 1 warning | 0 ok, the crossed threshold) for one observed value."""
        for lvl, bound in ((2, self.critical), (1, self.warning)):
            if bound is None:
                continue
            if (value > bound) if self.direction == "above" else (value < bound):
                return lvl, bound
        return 0, None


RULES: tuple[Rule, ...] = (
    Rule("nonfinite", "nonfinite_loss_count + nonfinite_grad_count of the update",
         "above", None, 0.0, 1, 1,
         "A NaN/Inf loss or gradient means the update was skipped or poisoned the weights.",
         "ppo_update.nonfinite_loss_count"),
    Rule("exploding_gradients", "exploding_layers of the update (layers with grad norm > 100 "
         "or non-finite)", "above", None, 0.0, 1, 3,
         "A layer whose gradient explodes diverges within a few steps (learning rate too high).",
         "ppo_update.pre_clip_grad_norm"),
    Rule("dead_layers", "dead_layers / total_layers of the update (grad norm < 1e-8)",
         "above", 0.5, None, 5, 5,
         "Most layers receiving no gradient means the policy has stopped learning.",
         "ppo_update.grad_norm"),
    Rule("entropy_collapse", "per head: entropy / ln(valid actions) (heads with >= 2 actions)",
         "below", 0.05, 0.01, 5, 5,
         "A head that always picks the same action no longer explores; judged against its own "
         "maximum entropy so small and large heads compare.", "ppo_update.entropy"),
    Rule("kl_spike", "kl_divergence / median of the group's last 20 updates (KL > 0.02)",
         "above", 10.0, 50.0, 1, 3,
         "A KL far above the run's own norm is a policy jump that PPO's clip did not contain.",
         "ppo_update.kl_divergence"),
    Rule("explained_variance_collapse", "explained_variance of the update",
         "below", -1.0, -10.0, 5, 5,
         "The critic predicting worse than a constant makes the advantages noise.",
         "ppo_update.explained_variance"),
    Rule("clip_asymmetric", "clip_fraction while |positive - negative| / clip_fraction > 0.8",
         "above", 0.4, None, 5, 5,
         "Clipping mostly on one side for several updates: the ratio drifts one way "
         "(high clip alone is normal PPO).", "ppo_update.clip_fraction"),
    Rule("value_divergence", "value_loss / median of the group's last 20 updates",
         "above", 20.0, 200.0, 3, 3,
         "A value loss growing far past its own norm means the critic diverges.",
         "ppo_update.value_loss"),
    Rule("throughput_drop", "fps / median fps of the group's last 20 updates",
         "below", 0.2, None, 3, 3,
         "A sudden fall in steps/s points at recompilation, swapping or a contended device.",
         "ppo_update.fps"),
    Rule("stall", "seconds since the run's last event (runs not finished)",
         "above", 30.0, 120.0, 1, 1,
         "A trainer that sends nothing is stopped, hung or cut off.", ""),
    Rule("cuda_memory_pressure", "gpu_memory_used_gb / gpu_memory_total_gb (system vitals, "
         "the device's total, not the allocator's reserve)", "above", 0.90, 0.97, 2, 2,
         "Near the device's capacity the next allocation fails (OOM).", ""),
    Rule("seeds_all_pruned", "seeds pruned while none was ever fossilized (lifecycle counts)",
         "above", 80.0, None, 1, 1,
         "Every seed failing means growth is not happening: blueprints or budget are wrong "
         "(healthy default runs fossilize their first seed within ~50 prunes).", ""),
    Rule("germination_blocked", "decisions in a row whose germinate action was masked out "
         "in every env (every slot occupied or embargoed)", "above", 200.0, None, 1, 1,
         "When no slot can take a seed the controller cannot grow the host any more.", ""),
)

BY_ID = {rule.id: rule for rule in RULES}

#: Display bands of gradient_cv (stable / warn / BAD), the CV across the action heads'
#: gradient norms: at most sqrt(n heads), 2.83 for the policy's 8, when one head gets all the
#: gradient. Healthy default runs keep most of it in the op head: over 12 seeds (480 updates)
#: p50 1.18, p99 2.63, max 2.68 (`python -m bench.calibrate_health` prints the shares). Warn
#: past that; BAD when all but one head are (next to) dead, the constructed fault
#: `--inject-dead-heads-update`. A display of the metric: it does not drive the banner.
GRADIENT_CV_BANDS: tuple[tuple[float, str, int], ...] = ((2.75, "stable", 0), (2.81, "warn", 1),
                                                         (float("inf"), "BAD", 2))


def _bound(rule: Rule, value: float | None) -> str:
    if value is None:
        return "—"
    return f"{'>' if rule.direction == 'above' else '<'} {value:g}"


def markdown_table() -> str:
    """The README's "Health rules" table, generated from RULES (a test keeps them equal)."""
    lines = ["| rule | reads | warning | critical | rises after / clears after (evaluations) "
             "| why |", "|---|---|---|---|---|---|"]
    for r in RULES:
        lines.append(f"| `{r.id}` | {r.reads} | {_bound(r, r.warning)} | "
                     f"{_bound(r, r.critical)} | {r.rise_after} / {r.clear_after} | {r.reason} |")
    return "\n".join(lines)
