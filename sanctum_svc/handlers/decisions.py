"""ANALYTICS_SNAPSHOT: the controller's last decision per group, and recent decisions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from esper.telemetry.v1 import telemetry_pb2 as tpb
from sanctum_svc import history
from sanctum_svc.handlers.common import RECENT_DECISIONS
from sanctum_svc.handlers.registry import handles

if TYPE_CHECKING:
    from sanctum_svc.aggregator import RunAggregator


@handles(tpb.EVENT_TYPE_ANALYTICS_SNAPSHOT)
def analytics_snapshot(run: RunAggregator, event: tpb.TelemetryEvent, received_at: float) -> None:
    decision = event.analytics_snapshot.decision
    run.group(event.group_id).last_decision.CopyFrom(decision)
    history.push_message(run.state.recent_decisions, RECENT_DECISIONS).CopyFrom(decision)
