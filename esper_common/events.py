"""Which payload each event type carries: the one table producers and sanctum share."""

from __future__ import annotations

from typing import Any

from esper.telemetry.v1 import telemetry_pb2 as tpb

ET = tpb.EventType

#: Event type -> name of the `payload` oneof field it must carry.
PAYLOAD_FOR_TYPE: dict[int, str] = {
    ET.EVENT_TYPE_TRAINING_STARTED: "training_started",
    ET.EVENT_TYPE_EPOCH_COMPLETED: "epoch_completed",
    ET.EVENT_TYPE_BATCH_EPOCH_COMPLETED: "batch_epoch_completed",
    ET.EVENT_TYPE_PPO_UPDATE_COMPLETED: "ppo_update",
    ET.EVENT_TYPE_SEED_GERMINATED: "seed_germinated",
    ET.EVENT_TYPE_SEED_STAGE_CHANGED: "seed_stage_changed",
    ET.EVENT_TYPE_SEED_GATE_EVALUATED: "seed_gate_evaluated",
    ET.EVENT_TYPE_SEED_FOSSILIZED: "seed_fossilized",
    ET.EVENT_TYPE_SEED_PRUNED: "seed_pruned",
    ET.EVENT_TYPE_SEED_CULLED: "seed_pruned",
    ET.EVENT_TYPE_RATIO_EXPLOSION_DETECTED: "anomaly",
    ET.EVENT_TYPE_RATIO_COLLAPSE_DETECTED: "anomaly",
    ET.EVENT_TYPE_VALUE_COLLAPSE_DETECTED: "anomaly",
    ET.EVENT_TYPE_NUMERICAL_INSTABILITY_DETECTED: "anomaly",
    ET.EVENT_TYPE_GRADIENT_ANOMALY: "anomaly",
    ET.EVENT_TYPE_MEMORY_WARNING: "memory_warning",
    ET.EVENT_TYPE_PLATEAU_DETECTED: "trend",
    ET.EVENT_TYPE_DEGRADATION_DETECTED: "trend",
    ET.EVENT_TYPE_IMPROVEMENT_DETECTED: "trend",
    ET.EVENT_TYPE_ANALYTICS_SNAPSHOT: "analytics_snapshot",
    ET.EVENT_TYPE_EPISODE_OUTCOME: "episode_outcome",
    ET.EVENT_TYPE_CHECKPOINT_LOADED: "checkpoint_loaded",
    ET.EVENT_TYPE_TRAINING_COMPLETED: "training_completed",
    ET.EVENT_TYPE_SYSTEM_VITALS: "system_vitals",
    ET.EVENT_TYPE_METRICS: "metrics",
}

#: The run's own scalars (METRICS): distinct names a run may have (sanctum keeps no more,
#: the SDK refuses more), and the longest name (the contract's rule on Metric.name).
MAX_METRIC_NAMES = 256
MAX_METRIC_NAME_CHARS = 128

#: Lifecycle and run events a producer must never drop; the rest may be thinned.
ESSENTIAL_TYPES: frozenset[int] = frozenset(
    {
        ET.EVENT_TYPE_TRAINING_STARTED,
        ET.EVENT_TYPE_TRAINING_COMPLETED,
        ET.EVENT_TYPE_BATCH_EPOCH_COMPLETED,
        ET.EVENT_TYPE_SEED_GERMINATED,
        ET.EVENT_TYPE_SEED_STAGE_CHANGED,
        ET.EVENT_TYPE_SEED_FOSSILIZED,
        ET.EVENT_TYPE_SEED_PRUNED,
        ET.EVENT_TYPE_SEED_CULLED,
        ET.EVENT_TYPE_EPISODE_OUTCOME,
        ET.EVENT_TYPE_CHECKPOINT_LOADED,
    }
)


def make_event(event_type: tpb.EventType, *, severity: tpb.Severity = tpb.SEVERITY_INFO,
               env_id: int | None = None, epoch: int | None = None,
               episode: int | None = None, batch: int | None = None,
               **fields: Any) -> tpb.TelemetryEvent:
    """A TelemetryEvent of `event_type`; the optional envelope fields are set only when
    given (absent = not about one env / epoch / episode / batch). `fields`: the payload and
    any other envelope field (group_id, ...)."""
    ev = tpb.TelemetryEvent(event_type=event_type, severity=severity, **fields)
    if env_id is not None:
        ev.env_id = env_id
    if epoch is not None:
        ev.epoch = epoch
    if episode is not None:
        ev.episode = episode
    if batch is not None:
        ev.batch = batch
    return ev


def payload_matches(event: tpb.TelemetryEvent) -> bool:
    """True when the event's payload is the one its event_type requires."""
    expected = PAYLOAD_FOR_TYPE.get(event.event_type)
    return expected is not None and event.WhichOneof("payload") == expected


def type_name(event_type: int) -> str:
    """Short display name: EVENT_TYPE_SEED_PRUNED -> SEED_PRUNED."""
    try:
        return ET.Name(event_type).removeprefix("EVENT_TYPE_")
    except ValueError:
        return f"UNKNOWN({event_type})"
