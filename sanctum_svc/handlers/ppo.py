"""PPO_UPDATE_COMPLETED: the controller's training state per policy group.

The update is kept as the payload message itself (copied into snapshots whole); only what
accumulates is handled field by field, and those fields are read from the descriptors and
the presentation table, not listed here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_common.presentation import getter, metric, optional_fields, plotted
from sanctum_svc.handlers.registry import handles

if TYPE_CHECKING:
    from sanctum_svc.aggregator import RunAggregator

#: Fields an update may leave out (sampled ones: gradient CV, CUDA memory); each is kept at
#: its last reported value in the group's `last_measured`.
_OPTIONAL = optional_fields(tpb.PPOUpdatePayload)
#: Plotted fields, their series names and a getter of their values.
_PLOTTED = plotted(tpb.PPOUpdatePayload)
_METRICS = tuple(metric(tpb.PPOUpdatePayload, name) for name in _PLOTTED)
_plotted_values = getter(_PLOTTED)


@handles(tpb.EVENT_TYPE_PPO_UPDATE_COMPLETED)
def ppo_update(run: RunAggregator, event: tpb.TelemetryEvent, received_at: float) -> None:
    """Record the update for its group: the payload by reference (the snapshot copies it),
    sampled values that stay until measured again, the update count and the series."""
    p = event.ppo_update
    group_id = event.group_id
    group = run.group(group_id)
    run.last_ppo[group_id] = p
    measured = group.last_measured
    for name in _OPTIONAL:
        if p.HasField(name):
            setattr(measured, name, getattr(p, name))
    group.updates = p.update_index or group.updates + 1
    for name, value in zip(_METRICS, _plotted_values(p), strict=True):
        run.push_series(name, group_id, value)
