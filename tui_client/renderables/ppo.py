"""PPO health panel (seed plan 004, Task 6.3): gauges, directional clip, sparklines."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.text import Text

from esper.sanctum.v1 import sanctum_pb2 as spb
from tui_client.renderables.fmt import bar, num, pack, pct, sparkline
from tui_client.renderables.health import Level, clip_level, ev_level, kl_level

LEVEL_STYLE = {"ok": "green", "warning": "yellow", "critical": "bold red"}
GAUGE_WIDTH = 10
LABEL_WIDTH = 12
#: Label, gauge, value and directional clip suffix; sparklines take what is left.
FIXED_WIDTH = LABEL_WIDTH + GAUGE_WIDTH + 10 + 12 + 2


def _finite(level: Callable[[float], Level]) -> Callable[[float], Level]:
    return lambda v: "critical" if not math.isfinite(v) else level(v)


def _always_ok(v: float) -> Level:
    return "ok"


def _grad_level(v: float) -> Level:
    return "critical" if v > 100 else ("warning" if v > 10 else "ok")


@dataclass(frozen=True)
class Gauge:
    """One gauge row: label, TamiyoState field, history field, full-scale range, rule."""

    label: str
    field: str
    lo: float
    hi: float
    level: Callable[[float], Level]
    spec: str = ".4f"


GAUGES: Sequence[Gauge] = (
    Gauge("Policy loss", "policy_loss", -0.2, 0.2, _finite(_always_ok)),
    Gauge("Value loss", "value_loss", 0.0, 2.0, _finite(_always_ok)),
    Gauge("Entropy", "entropy", 0.0, 3.0, _finite(_always_ok)),
    Gauge("KL", "kl_divergence", 0.0, 0.1, kl_level),
    Gauge("Expl. var", "explained_variance", -1.0, 1.0, ev_level, ".3f"),
    Gauge("Grad norm", "grad_norm", 0.0, 10.0, _finite(_grad_level), ".3f"),
    Gauge("Clip frac", "clip_fraction", 0.0, 0.5, clip_level, ".3f"),
)


def directional_clip(tamiyo: spb.TamiyoState) -> str:
    """ " (↑10% ↓5%)" when either directional clip fraction is > 0, else ""."""
    gq = tamiyo.gradient_quality
    if gq.clip_fraction_positive > 0 or gq.clip_fraction_negative > 0:
        return f" (↑{pct(gq.clip_fraction_positive)} ↓{pct(gq.clip_fraction_negative)})"
    return ""


def gauge_row(
    g: Gauge, value: float | None, history: Sequence[float], suffix: str = "", spark: int = 16
) -> Text:
    """`Label  ████░░░░  0.0123{suffix}  ▁▂▅▇` coloured by the gauge's rule; "—" when unknown."""
    out = Text(f"{g.label:<{LABEL_WIDTH}}")
    if value is None:
        out.append("░" * GAUGE_WIDTH, style="dim")
        out.append(f" {num(None):>9}")
    else:
        frac = (value - g.lo) / (g.hi - g.lo) if math.isfinite(value) else 1.0
        style = LEVEL_STYLE[g.level(value)]
        out.append(bar(frac, GAUGE_WIDTH), style=style)
        out.append(f" {num(value, g.spec):>9}", style=style)
        out.append(suffix, style="dim")
    if spark > 0:
        out.append(" " * max(1, FIXED_WIDTH - len(out)))
        out.append(sparkline(list(history), spark), style="blue")
    return out


def details_text(tamiyo: spb.TamiyoState, width: int | None = None) -> Text:
    """The update's other numbers, wrapped as wholes: ratio range, value and advantage
    statistics, pre-clip grad norm, lr, entropy coef, inner epoch / batch, update time,
    early stop ("—" until the first update)."""
    if not tamiyo.ppo_data_received:
        return Text("ratio —  value —  adv —  lr —", style="dim")
    t = tamiyo
    skipped = [Text(f"non-finite {what} ×{n} (skipped)", style="bold red")
               for what, n in (("loss", t.nonfinite_loss_count),
                               ("grads", t.nonfinite_grad_count)) if n]
    early = f"early stop ep {t.early_stop_epoch}" if t.HasField("early_stop_epoch") else ""
    items = [
        f"ratio {num(t.ratio_min, '.2f')}–{num(t.ratio_max, '.2f')}",
        f"V μ{num(t.value_mean, '.2f')} σ{num(t.value_std, '.2f')} "
        f"[{num(t.value_min, '.2f')},{num(t.value_max, '.2f')}]",
        f"adv μ{num(t.advantage_mean, '+.2f')} σ{num(t.advantage_std, '.2f')}",
        f"pre-clip GN {num(t.pre_clip_grad_norm, '.3f')}",
        f"lr {t.lr:g}",
        f"ent_coef {t.entropy_coef:g}",
        f"epoch {t.inner_epoch} batch {t.batch}",
        f"{num(t.update_time_ms, '.0f')} ms/update",
        early,
    ]
    return pack([*skipped, *(Text(i, style="dim") for i in items if i)], width, indent=0)


def ppo_text(snapshot: spb.SanctumSnapshot | None, width: int = 64) -> Text:
    """All gauges; the clip gauge is followed by the directional breakdown. Sparklines use
    the width left over (none below a few cells). Then the update's other numbers."""
    spark = width - FIXED_WIDTH if width - FIXED_WIDTH >= 4 else 0
    tamiyo = snapshot.tamiyo if snapshot else spb.TamiyoState()
    hist = snapshot.histories if snapshot else spb.Histories()
    known = tamiyo.ppo_data_received
    out = Text()
    for i, g in enumerate(GAUGES):
        if i:
            out.append("\n")
        value = getattr(tamiyo, g.field) if known else None
        suffix = directional_clip(tamiyo) if g.field == "clip_fraction" and known else ""
        out.append_text(gauge_row(g, value, getattr(hist, g.field), suffix, spark))
    out.append("\n")
    out.append_text(details_text(tamiyo, width if width > 0 else None))
    return out
