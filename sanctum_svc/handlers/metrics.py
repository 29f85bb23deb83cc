"""METRICS: a training script's own scalars, kept per name (sanctum_svc.metric_tracks)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from esper.telemetry.v1 import telemetry_pb2 as tpb
from sanctum_svc.handlers.registry import handles

if TYPE_CHECKING:
    from sanctum_svc.aggregator import RunAggregator


@handles(tpb.EVENT_TYPE_METRICS)
def metrics(run: RunAggregator, event: tpb.TelemetryEvent, received_at: float) -> None:
    run.metrics.record(event)
