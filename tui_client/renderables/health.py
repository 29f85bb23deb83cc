"""Render sanctum's health verdict: the banner status, reasons and colours come from the
snapshot's `health` section (findings sanctum computed from its one rule table); this
module keeps no thresholds of its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.telemetry.v1 import telemetry_pb2 as tpb
from tui_client.renderables.fmt import clip

Status = Literal["ok", "warning", "critical", "warmup"]
Level = Literal["ok", "warning", "critical"]

_LEVEL: dict[int, Level] = {tpb.SEVERITY_WARNING: "warning", tpb.SEVERITY_ERROR: "critical",
                            tpb.SEVERITY_CRITICAL: "critical"}


@dataclass
class Verdict:
    """Overall status and the findings' one-line messages (worst first)."""

    status: Status
    reasons: list[str] = field(default_factory=list)


def head_max_entropy(run_config: tpb.RunConfig) -> dict[int, float]:
    """ActionHead -> ln(n_actions), the head's maximum entropy (heads with < 2 actions omitted)."""
    return {h.head: math.log(h.n_actions) for h in run_config.heads if h.n_actions >= 2}


def level_of(severity: int) -> Level:
    return _LEVEL.get(severity, "ok")


def findings_of(snapshot: spb.SanctumSnapshot | None, group_id: str | None
                ) -> list[spb.HealthFinding]:
    """The snapshot's findings about `group_id` and run-wide ones (no group)."""
    if snapshot is None:
        return []
    return [f for f in snapshot.health.findings if f.group_id in ("", group_id)]


def evaluate(snapshot: spb.SanctumSnapshot, group: spb.PolicyGroup) -> Verdict:
    """The banner verdict for `group`: the worst severity of its (and run-wide) findings;
    warm-up until sanctum says the run warmed up; OK otherwise (another group's findings
    are that group's). The findings' messages are the reasons."""
    found = findings_of(snapshot, group.group_id)
    reasons = [clip(f.message, 120) for f in found]
    levels = {level_of(f.severity) for f in found}
    if "critical" in levels:
        return Verdict("critical", reasons)
    if "warning" in levels:
        return Verdict("warning", reasons)
    if not snapshot.HasField("health") or snapshot.health.status in (
            spb.HEALTH_STATUS_UNSPECIFIED, spb.HEALTH_STATUS_WARMUP):
        return Verdict("warmup", ["waiting for sanctum's health verdict"])
    return Verdict("ok", reasons)


def metric_level(snapshot: spb.SanctumSnapshot | None, group_id: str, metric: str,
                 head: int = 0) -> Level:
    """The worst level of the findings about `metric` (and `head`, when given)."""
    worst: Level = "ok"
    for f in findings_of(snapshot, group_id):
        if f.metric == metric and (not head or f.head == head):
            if level_of(f.severity) == "critical":
                return "critical"
            worst = "warning"
    return worst


def rule_level(snapshot: spb.SanctumSnapshot | None, group_id: str, *rule_ids: str) -> Level:
    """The worst level of the findings of any of `rule_ids`."""
    levels = {level_of(f.severity) for f in findings_of(snapshot, group_id)
              if f.rule_id in rule_ids}
    return "critical" if "critical" in levels else ("warning" if levels else "ok")


def band_of(snapshot: spb.SanctumSnapshot | None, group_id: str, metric: str
            ) -> spb.MetricBand | None:
    """Sanctum's display band of a diagnostic (the gradient CV's stable/warn/BAD)."""
    if snapshot is None:
        return None
    for b in snapshot.health.bands:
        if b.group_id == group_id and b.metric == metric:
            return b
    return None
