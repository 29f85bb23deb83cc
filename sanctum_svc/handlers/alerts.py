"""Detector events (anomalies, memory warnings, trends): entries in the run's event log."""

from __future__ import annotations

from typing import TYPE_CHECKING

from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_common.events import type_name
from sanctum_svc.handlers.registry import handles

if TYPE_CHECKING:
    from sanctum_svc.aggregator import RunAggregator

ET = tpb.EventType


@handles(
    ET.EVENT_TYPE_RATIO_EXPLOSION_DETECTED,
    ET.EVENT_TYPE_RATIO_COLLAPSE_DETECTED,
    ET.EVENT_TYPE_VALUE_COLLAPSE_DETECTED,
    ET.EVENT_TYPE_NUMERICAL_INSTABILITY_DETECTED,
    ET.EVENT_TYPE_GRADIENT_ANOMALY,
)
def anomaly(run: RunAggregator, event: tpb.TelemetryEvent, received_at: float) -> None:
    p = event.anomaly
    title = type_name(event.event_type).removesuffix("_DETECTED").replace("_", " ").lower()
    detail = f": {p.detail}" if p.detail else ""
    layers = f" [{', '.join(p.layers[:4])}{', …' if len(p.layers) > 4 else ''}]" if p.layers else ""
    # Both 0: a producer that does not record them (a detector fires past its threshold).
    measured = f" (value {p.value:.4g}, threshold {p.threshold:.4g})" if p.value or p.threshold \
        else ""
    entry = run.log(event, received_at, f"{title.capitalize()}{detail}{measured}{layers}")
    if entry.severity == tpb.SEVERITY_UNSPECIFIED:
        entry.severity = tpb.SEVERITY_WARNING


@handles(ET.EVENT_TYPE_MEMORY_WARNING)
def memory_warning(run: RunAggregator, event: tpb.TelemetryEvent, received_at: float) -> None:
    p = event.memory_warning
    entry = run.log(
        event,
        received_at,
        f"Memory pressure on {p.device or '?'}: {p.used_gb:.1f}/{p.total_gb:.1f} GB "
        f"({p.utilization:.0%})",
    )
    if entry.severity == tpb.SEVERITY_UNSPECIFIED:
        entry.severity = tpb.SEVERITY_WARNING


@handles(
    ET.EVENT_TYPE_PLATEAU_DETECTED,
    ET.EVENT_TYPE_DEGRADATION_DETECTED,
    ET.EVENT_TYPE_IMPROVEMENT_DETECTED,
)
def trend(run: RunAggregator, event: tpb.TelemetryEvent, received_at: float) -> None:
    p = event.trend
    kind = type_name(event.event_type).removesuffix("_DETECTED").lower()
    run.log(
        event,
        received_at,
        f"{kind.capitalize()} in {p.metric or '?'}: {p.current:.4g} "
        f"(slope {p.slope:+.3g} over {p.window})",
    )
