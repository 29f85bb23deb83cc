"""Metrics panel: the run's own scalars (`run.log()`), one line each: name, latest value,
step and a sparkline of its history."""

from __future__ import annotations

from rich.text import Text

from esper.sanctum.v2 import sanctum_pb2 as spb
from tui_client.renderables.fmt import DASH, clip, num, sparkline

#: Columns of a metric's name (longer names end in "…") and of its value and step.
NAME_COLS, VALUE_COLS, STEP_COLS = 24, 10, 9
EMPTY = "no metrics logged (run.log({...}) in the training script)"


def metric_name(m: spb.UserMetric) -> str:
    """ "loss", or "loss@B/env2" for a metric logged for a policy group or an env."""
    where = m.group_id
    if m.HasField("env_id"):
        where = f"{where}/env{m.env_id}" if where else f"env{m.env_id}"
    return f"{m.name}@{where}" if where else m.name


def metrics_text(snapshot: spb.SanctumSnapshot | None, width: int | None) -> Text:
    """One line per metric, in the order first logged; the empty state when none."""
    section = snapshot.metrics if snapshot is not None else spb.MetricsSection()
    if not section.metrics:
        return Text(EMPTY if snapshot is not None else DASH, style="dim")
    metrics = list(section.metrics)
    names = [metric_name(m) for m in metrics]
    values = [num(m.value, ".4g") for m in metrics]
    steps = [f"@{m.step}" if m.HasField("step") else DASH for m in metrics]
    total = width or 80
    # The name and value always show; then the step, then the sparkline, as room allows.
    value_cols = min(VALUE_COLS, max(len(v) for v in values))
    name_cols = max(4, min(NAME_COLS, max(len(n) for n in names), total - value_cols - 1))
    room = total - name_cols - value_cols - 1
    step_cols = min(STEP_COLS, max(len(s) for s in steps))
    step_cols = step_cols if room > step_cols else 0
    spark_cols = max(0, room - step_cols - 2) if step_cols else 0
    out = Text()
    for i, (m, name, value, step) in enumerate(zip(metrics, names, values, steps, strict=True)):
        if i:
            out.append("\n")
        out.append(clip(name, name_cols).ljust(name_cols), style="bold")
        out.append(" " + value.rjust(value_cols))
        if step_cols:
            out.append(" " + clip(step, step_cols).ljust(step_cols), style="dim")
        if spark_cols > 0:
            out.append(" " + sparkline(list(m.history), spark_cols), style="cyan")
    if section.refused:
        out.append(f"\nrefused {section.refused} values (name cap)", style="yellow")
    return out
