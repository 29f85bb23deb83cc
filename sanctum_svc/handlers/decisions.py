"""ANALYTICS_SNAPSHOT: the controller's last decision per group, and recent decisions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from esper.telemetry.v1 import telemetry_pb2 as tpb
from sanctum_svc.handlers.registry import handles

if TYPE_CHECKING:
    from sanctum_svc.aggregator import RunAggregator


@handles(tpb.EVENT_TYPE_ANALYTICS_SNAPSHOT)
def analytics_snapshot(run: RunAggregator, event: tpb.TelemetryEvent, received_at: float) -> None:
    """Keep the decision card (a per-step event: references only, copied at snapshot time)."""
    decision = event.analytics_snapshot.decision
    group_id = event.group_id
    if decision.group_id != group_id:  # the envelope says who decided
        decision.group_id = group_id
    if group_id not in run.groups:
        run.group(group_id)
    run.last_decision[group_id] = decision
    run.decisions.append(decision)
    run.health.on_decision(decision)
