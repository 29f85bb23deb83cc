"""PPO health panel (seed Task 6.3): gauges with sparklines, directional clip, the update's
other numbers. Which fields, how they are labelled, formatted and scaled, and which have a
sparkline all come from the presentation table (`esper_common.presentation`)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.text import Text

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_common.presentation import Show, details, gauges, metric
from tui_client.renderables.fmt import bar, num, pack, pct, sparkline
from tui_client.renderables.groups import group_of, series
from tui_client.renderables.health import gauge_level

LEVEL_STYLE = {"ok": "green", "warning": "yellow", "critical": "bold red"}
GAUGE_WIDTH = 10
LABEL_WIDTH = 12
#: Label, gauge, value and directional clip suffix; sparklines take what is left.
FIXED_WIDTH = LABEL_WIDTH + GAUGE_WIDTH + 10 + 12 + 2

_GAUGES = gauges(tpb.PPOUpdatePayload)
_DETAILS = details(tpb.PPOUpdatePayload)


def directional_clip(update: tpb.PPOUpdatePayload) -> str:
    """ " (↑10% ↓5%)" when either directional clip fraction is > 0, else ""."""
    if update.clip_fraction_positive > 0 or update.clip_fraction_negative > 0:
        return f" (↑{pct(update.clip_fraction_positive)} ↓{pct(update.clip_fraction_negative)})"
    return ""


def gauge_row(name: str, g: Show, value: float | None, history: Sequence[float],
              suffix: str = "", spark: int = 16) -> Text:
    """`Label  ████░░░░  0.0123{suffix}  ▁▂▅▇` coloured by the field's rule; "—" when
    unknown. No sparkline column for a field that is not plotted."""
    out = Text(f"{g.label:<{LABEL_WIDTH}}")
    if value is None:
        out.append("░" * GAUGE_WIDTH, style="dim")
        out.append(f" {num(None):>9}")
    else:
        assert g.lo is not None and g.hi is not None  # a gauge has a range
        frac = (value - g.lo) / (g.hi - g.lo) if math.isfinite(value) else 1.0
        style = LEVEL_STYLE[gauge_level(name, value)]
        out.append(bar(frac, GAUGE_WIDTH), style=style)
        out.append(f" {num(value, g.spec):>9}", style=style)
        out.append(suffix, style="dim")
    if spark > 0 and g.plot:
        out.append(" " * max(1, FIXED_WIDTH - len(out)))
        out.append(sparkline(list(history), spark), style="blue")
    return out


def details_text(group: spb.PolicyGroup, width: int | None = None) -> Text:
    """The update's other numbers as `label value` items, wrapped as wholes; optional
    fields only when present (sampled ones at their last measured value). "—" before the
    first update."""
    if not group.HasField("last_update"):
        return Text("ratio —  value —  adv —  lr —", style="dim")
    update = group.last_update
    items = [Text(f"non-finite {what} ×{n} (skipped)", style="bold red")
             for what, n in (("loss", update.nonfinite_loss_count),
                             ("grads", update.nonfinite_grad_count)) if n]
    for name, d in _DETAILS.items():
        source = group.last_measured if d.sampled else update
        field = source.DESCRIPTOR.fields_by_name[name]
        if field.has_presence and not source.HasField(name):
            continue
        items.append(Text(f"{d.label} {d.text(getattr(source, name))}", style="dim"))
    return pack(items, width, indent=0)


def ppo_text(snapshot: spb.SanctumSnapshot | None, group: spb.PolicyGroup | None = None,
             width: int = 64) -> Text:
    """Every gauge of the presentation table; the clip gauge is followed by the directional
    breakdown. Sparklines use the width left over (none below a few cells). Then the
    update's other numbers."""
    spark = width - FIXED_WIDTH if width - FIXED_WIDTH >= 4 else 0
    group = group if group is not None else group_of(snapshot, None)
    known = group.HasField("last_update")
    update = group.last_update
    out = Text()
    for i, (name, g) in enumerate(_GAUGES.items()):
        if i:
            out.append("\n")
        value = getattr(update, name) if known else None
        suffix = directional_clip(update) if name == "clip_fraction" and known else ""
        history = series(snapshot, metric(tpb.PPOUpdatePayload, name), group.group_id)
        out.append_text(gauge_row(name, g, value, history, suffix, spark))
    out.append("\n")
    out.append_text(details_text(group, width if width > 0 else None))
    return out
