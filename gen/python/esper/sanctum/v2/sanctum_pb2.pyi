import datetime

from buf.validate import validate_pb2 as _validate_pb2
from esper.telemetry.v1 import telemetry_pb2 as _telemetry_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Liveness(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LIVENESS_UNSPECIFIED: _ClassVar[Liveness]
    LIVENESS_LIVE: _ClassVar[Liveness]
    LIVENESS_SLOW: _ClassVar[Liveness]
    LIVENESS_STALE: _ClassVar[Liveness]

class RunStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RUN_STATUS_UNSPECIFIED: _ClassVar[RunStatus]
    RUN_STATUS_RUNNING: _ClassVar[RunStatus]
    RUN_STATUS_COMPLETED: _ClassVar[RunStatus]
    RUN_STATUS_STOPPED: _ClassVar[RunStatus]
    RUN_STATUS_FAILED: _ClassVar[RunStatus]

class HealthStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    HEALTH_STATUS_UNSPECIFIED: _ClassVar[HealthStatus]
    HEALTH_STATUS_WARMUP: _ClassVar[HealthStatus]
    HEALTH_STATUS_OK: _ClassVar[HealthStatus]
    HEALTH_STATUS_WARNING: _ClassVar[HealthStatus]
    HEALTH_STATUS_CRITICAL: _ClassVar[HealthStatus]
LIVENESS_UNSPECIFIED: Liveness
LIVENESS_LIVE: Liveness
LIVENESS_SLOW: Liveness
LIVENESS_STALE: Liveness
RUN_STATUS_UNSPECIFIED: RunStatus
RUN_STATUS_RUNNING: RunStatus
RUN_STATUS_COMPLETED: RunStatus
RUN_STATUS_STOPPED: RunStatus
RUN_STATUS_FAILED: RunStatus
HEALTH_STATUS_UNSPECIFIED: HealthStatus
HEALTH_STATUS_WARMUP: HealthStatus
HEALTH_STATUS_OK: HealthStatus
HEALTH_STATUS_WARNING: HealthStatus
HEALTH_STATUS_CRITICAL: HealthStatus

class IngestRequest(_message.Message):
    __slots__ = ("batch",)
    BATCH_FIELD_NUMBER: _ClassVar[int]
    batch: _telemetry_pb2.EventBatch
    def __init__(self, batch: _Optional[_Union[_telemetry_pb2.EventBatch, _Mapping]] = ...) -> None: ...

class IngestResponse(_message.Message):
    __slots__ = ("batches", "events_received", "events_applied", "events_duplicate", "cursors", "events_conflicting")
    BATCHES_FIELD_NUMBER: _ClassVar[int]
    EVENTS_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    EVENTS_APPLIED_FIELD_NUMBER: _ClassVar[int]
    EVENTS_DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    CURSORS_FIELD_NUMBER: _ClassVar[int]
    EVENTS_CONFLICTING_FIELD_NUMBER: _ClassVar[int]
    batches: int
    events_received: int
    events_applied: int
    events_duplicate: int
    cursors: _containers.RepeatedCompositeFieldContainer[ProducerCursor]
    events_conflicting: int
    def __init__(self, batches: _Optional[int] = ..., events_received: _Optional[int] = ..., events_applied: _Optional[int] = ..., events_duplicate: _Optional[int] = ..., cursors: _Optional[_Iterable[_Union[ProducerCursor, _Mapping]]] = ..., events_conflicting: _Optional[int] = ...) -> None: ...

class ProducerCursor(_message.Message):
    __slots__ = ("run_id", "producer_id", "last_seq")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    PRODUCER_ID_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    producer_id: str
    last_seq: int
    def __init__(self, run_id: _Optional[str] = ..., producer_id: _Optional[str] = ..., last_seq: _Optional[int] = ...) -> None: ...

class GetResumeCursorRequest(_message.Message):
    __slots__ = ("run_id", "producer_id")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    PRODUCER_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    producer_id: str
    def __init__(self, run_id: _Optional[str] = ..., producer_id: _Optional[str] = ...) -> None: ...

class GetResumeCursorResponse(_message.Message):
    __slots__ = ("cursors",)
    CURSORS_FIELD_NUMBER: _ClassVar[int]
    cursors: _containers.RepeatedCompositeFieldContainer[ProducerCursor]
    def __init__(self, cursors: _Optional[_Iterable[_Union[ProducerCursor, _Mapping]]] = ...) -> None: ...

class WatchSnapshotsRequest(_message.Message):
    __slots__ = ("run_id", "max_hz", "incremental", "compressed")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    MAX_HZ_FIELD_NUMBER: _ClassVar[int]
    INCREMENTAL_FIELD_NUMBER: _ClassVar[int]
    COMPRESSED_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    max_hz: float
    incremental: bool
    compressed: bool
    def __init__(self, run_id: _Optional[str] = ..., max_hz: _Optional[float] = ..., incremental: _Optional[bool] = ..., compressed: _Optional[bool] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ("server_time", "version", "liveness", "seconds_since_last_event")
    SERVER_TIME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    LIVENESS_FIELD_NUMBER: _ClassVar[int]
    SECONDS_SINCE_LAST_EVENT_FIELD_NUMBER: _ClassVar[int]
    server_time: _timestamp_pb2.Timestamp
    version: int
    liveness: Liveness
    seconds_since_last_event: float
    def __init__(self, server_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., version: _Optional[int] = ..., liveness: _Optional[_Union[Liveness, str]] = ..., seconds_since_last_event: _Optional[float] = ...) -> None: ...

class WatchSnapshotsResponse(_message.Message):
    __slots__ = ("snapshot", "heartbeat", "delta")
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    snapshot: SanctumSnapshot
    heartbeat: Heartbeat
    delta: SnapshotDelta
    def __init__(self, snapshot: _Optional[_Union[SanctumSnapshot, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., delta: _Optional[_Union[SnapshotDelta, _Mapping]] = ...) -> None: ...

class GetSnapshotRequest(_message.Message):
    __slots__ = ("run_id",)
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    def __init__(self, run_id: _Optional[str] = ...) -> None: ...

class GetSnapshotResponse(_message.Message):
    __slots__ = ("snapshot",)
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    snapshot: SanctumSnapshot
    def __init__(self, snapshot: _Optional[_Union[SanctumSnapshot, _Mapping]] = ...) -> None: ...

class ListRunsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "filter", "statuses")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    filter: str
    statuses: _containers.RepeatedScalarFieldContainer[RunStatus]
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., filter: _Optional[str] = ..., statuses: _Optional[_Iterable[_Union[RunStatus, str]]] = ...) -> None: ...

class RunSummary(_message.Message):
    __slots__ = ("run_id", "task", "liveness", "last_event_time", "episodes_completed", "total_episodes", "n_envs", "group_ids", "status", "events_applied", "status_reason", "group_count", "rolling_accuracy", "avg_reward", "started_at", "tags")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    LIVENESS_FIELD_NUMBER: _ClassVar[int]
    LAST_EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    EPISODES_COMPLETED_FIELD_NUMBER: _ClassVar[int]
    TOTAL_EPISODES_FIELD_NUMBER: _ClassVar[int]
    N_ENVS_FIELD_NUMBER: _ClassVar[int]
    GROUP_IDS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    EVENTS_APPLIED_FIELD_NUMBER: _ClassVar[int]
    STATUS_REASON_FIELD_NUMBER: _ClassVar[int]
    GROUP_COUNT_FIELD_NUMBER: _ClassVar[int]
    ROLLING_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    AVG_REWARD_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    task: str
    liveness: Liveness
    last_event_time: _timestamp_pb2.Timestamp
    episodes_completed: int
    total_episodes: int
    n_envs: int
    group_ids: _containers.RepeatedScalarFieldContainer[str]
    status: RunStatus
    events_applied: int
    status_reason: str
    group_count: int
    rolling_accuracy: float
    avg_reward: float
    started_at: _timestamp_pb2.Timestamp
    tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, run_id: _Optional[str] = ..., task: _Optional[str] = ..., liveness: _Optional[_Union[Liveness, str]] = ..., last_event_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., episodes_completed: _Optional[int] = ..., total_episodes: _Optional[int] = ..., n_envs: _Optional[int] = ..., group_ids: _Optional[_Iterable[str]] = ..., status: _Optional[_Union[RunStatus, str]] = ..., events_applied: _Optional[int] = ..., status_reason: _Optional[str] = ..., group_count: _Optional[int] = ..., rolling_accuracy: _Optional[float] = ..., avg_reward: _Optional[float] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., tags: _Optional[_Iterable[str]] = ...) -> None: ...

class ListRunsResponse(_message.Message):
    __slots__ = ("runs", "next_page_token", "total_size")
    RUNS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    runs: _containers.RepeatedCompositeFieldContainer[RunSummary]
    next_page_token: str
    total_size: int
    def __init__(self, runs: _Optional[_Iterable[_Union[RunSummary, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class SanctumSnapshot(_message.Message):
    __slots__ = ("run_id", "version", "generated_at", "run", "tamiyo", "envs", "histories", "event_log", "decisions", "delivery", "vitals", "lifecycle", "trimmed", "health", "metrics")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    GENERATED_AT_FIELD_NUMBER: _ClassVar[int]
    RUN_FIELD_NUMBER: _ClassVar[int]
    TAMIYO_FIELD_NUMBER: _ClassVar[int]
    ENVS_FIELD_NUMBER: _ClassVar[int]
    HISTORIES_FIELD_NUMBER: _ClassVar[int]
    EVENT_LOG_FIELD_NUMBER: _ClassVar[int]
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_FIELD_NUMBER: _ClassVar[int]
    VITALS_FIELD_NUMBER: _ClassVar[int]
    LIFECYCLE_FIELD_NUMBER: _ClassVar[int]
    TRIMMED_FIELD_NUMBER: _ClassVar[int]
    HEALTH_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    version: int
    generated_at: _timestamp_pb2.Timestamp
    run: RunSection
    tamiyo: TamiyoSection
    envs: EnvSection
    histories: HistorySection
    event_log: EventLogSection
    decisions: DecisionSection
    delivery: DeliveryStats
    vitals: _telemetry_pb2.SystemVitalsPayload
    lifecycle: LifecycleCounts
    trimmed: SnapshotTrim
    health: HealthSection
    metrics: MetricsSection
    def __init__(self, run_id: _Optional[str] = ..., version: _Optional[int] = ..., generated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., run: _Optional[_Union[RunSection, _Mapping]] = ..., tamiyo: _Optional[_Union[TamiyoSection, _Mapping]] = ..., envs: _Optional[_Union[EnvSection, _Mapping]] = ..., histories: _Optional[_Union[HistorySection, _Mapping]] = ..., event_log: _Optional[_Union[EventLogSection, _Mapping]] = ..., decisions: _Optional[_Union[DecisionSection, _Mapping]] = ..., delivery: _Optional[_Union[DeliveryStats, _Mapping]] = ..., vitals: _Optional[_Union[_telemetry_pb2.SystemVitalsPayload, _Mapping]] = ..., lifecycle: _Optional[_Union[LifecycleCounts, _Mapping]] = ..., trimmed: _Optional[_Union[SnapshotTrim, _Mapping]] = ..., health: _Optional[_Union[HealthSection, _Mapping]] = ..., metrics: _Optional[_Union[MetricsSection, _Mapping]] = ...) -> None: ...

class SnapshotTrim(_message.Message):
    __slots__ = ("budget_bytes", "full_bytes", "fields")
    BUDGET_BYTES_FIELD_NUMBER: _ClassVar[int]
    FULL_BYTES_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    budget_bytes: int
    full_bytes: int
    fields: _containers.RepeatedCompositeFieldContainer[TrimmedField]
    def __init__(self, budget_bytes: _Optional[int] = ..., full_bytes: _Optional[int] = ..., fields: _Optional[_Iterable[_Union[TrimmedField, _Mapping]]] = ...) -> None: ...

class TrimmedField(_message.Message):
    __slots__ = ("field", "omitted")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    OMITTED_FIELD_NUMBER: _ClassVar[int]
    field: str
    omitted: int
    def __init__(self, field: _Optional[str] = ..., omitted: _Optional[int] = ...) -> None: ...

class RunSection(_message.Message):
    __slots__ = ("config", "status", "started_at", "last_event_time", "liveness", "seconds_since_last_event", "last_batch", "episodes_per_second", "completion")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    LIVENESS_FIELD_NUMBER: _ClassVar[int]
    SECONDS_SINCE_LAST_EVENT_FIELD_NUMBER: _ClassVar[int]
    LAST_BATCH_FIELD_NUMBER: _ClassVar[int]
    EPISODES_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_FIELD_NUMBER: _ClassVar[int]
    config: _telemetry_pb2.RunConfig
    status: RunStatus
    started_at: _timestamp_pb2.Timestamp
    last_event_time: _timestamp_pb2.Timestamp
    liveness: Liveness
    seconds_since_last_event: float
    last_batch: _telemetry_pb2.BatchEpochCompletedPayload
    episodes_per_second: float
    completion: _telemetry_pb2.TrainingCompletedPayload
    def __init__(self, config: _Optional[_Union[_telemetry_pb2.RunConfig, _Mapping]] = ..., status: _Optional[_Union[RunStatus, str]] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_event_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., liveness: _Optional[_Union[Liveness, str]] = ..., seconds_since_last_event: _Optional[float] = ..., last_batch: _Optional[_Union[_telemetry_pb2.BatchEpochCompletedPayload, _Mapping]] = ..., episodes_per_second: _Optional[float] = ..., completion: _Optional[_Union[_telemetry_pb2.TrainingCompletedPayload, _Mapping]] = ...) -> None: ...

class TamiyoSection(_message.Message):
    __slots__ = ("groups",)
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    groups: _containers.RepeatedCompositeFieldContainer[PolicyGroup]
    def __init__(self, groups: _Optional[_Iterable[_Union[PolicyGroup, _Mapping]]] = ...) -> None: ...

class PolicyGroup(_message.Message):
    __slots__ = ("group_id", "updates", "last_update", "last_measured", "last_decision")
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    UPDATES_FIELD_NUMBER: _ClassVar[int]
    LAST_UPDATE_FIELD_NUMBER: _ClassVar[int]
    LAST_MEASURED_FIELD_NUMBER: _ClassVar[int]
    LAST_DECISION_FIELD_NUMBER: _ClassVar[int]
    group_id: str
    updates: int
    last_update: _telemetry_pb2.PPOUpdatePayload
    last_measured: _telemetry_pb2.PPOUpdatePayload
    last_decision: _telemetry_pb2.DecisionCard
    def __init__(self, group_id: _Optional[str] = ..., updates: _Optional[int] = ..., last_update: _Optional[_Union[_telemetry_pb2.PPOUpdatePayload, _Mapping]] = ..., last_measured: _Optional[_Union[_telemetry_pb2.PPOUpdatePayload, _Mapping]] = ..., last_decision: _Optional[_Union[_telemetry_pb2.DecisionCard, _Mapping]] = ...) -> None: ...

class EnvSection(_message.Message):
    __slots__ = ("envs", "mean_reward")
    ENVS_FIELD_NUMBER: _ClassVar[int]
    MEAN_REWARD_FIELD_NUMBER: _ClassVar[int]
    envs: _containers.RepeatedCompositeFieldContainer[EnvState]
    mean_reward: float
    def __init__(self, envs: _Optional[_Iterable[_Union[EnvState, _Mapping]]] = ..., mean_reward: _Optional[float] = ...) -> None: ...

class EnvState(_message.Message):
    __slots__ = ("env_id", "group_id", "last_epoch", "epoch", "episode", "best_accuracy", "cumulative_reward", "seeds")
    class SeedsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _telemetry_pb2.SeedTelemetry
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_telemetry_pb2.SeedTelemetry, _Mapping]] = ...) -> None: ...
    ENV_ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    LAST_EPOCH_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    EPISODE_FIELD_NUMBER: _ClassVar[int]
    BEST_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    CUMULATIVE_REWARD_FIELD_NUMBER: _ClassVar[int]
    SEEDS_FIELD_NUMBER: _ClassVar[int]
    env_id: int
    group_id: str
    last_epoch: _telemetry_pb2.EpochCompletedPayload
    epoch: int
    episode: int
    best_accuracy: float
    cumulative_reward: float
    seeds: _containers.MessageMap[str, _telemetry_pb2.SeedTelemetry]
    def __init__(self, env_id: _Optional[int] = ..., group_id: _Optional[str] = ..., last_epoch: _Optional[_Union[_telemetry_pb2.EpochCompletedPayload, _Mapping]] = ..., epoch: _Optional[int] = ..., episode: _Optional[int] = ..., best_accuracy: _Optional[float] = ..., cumulative_reward: _Optional[float] = ..., seeds: _Optional[_Mapping[str, _telemetry_pb2.SeedTelemetry]] = ...) -> None: ...

class HistorySection(_message.Message):
    __slots__ = ("series",)
    SERIES_FIELD_NUMBER: _ClassVar[int]
    series: _containers.RepeatedCompositeFieldContainer[History]
    def __init__(self, series: _Optional[_Iterable[_Union[History, _Mapping]]] = ...) -> None: ...

class History(_message.Message):
    __slots__ = ("metric", "group_id", "env_id", "values")
    METRIC_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    ENV_ID_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    metric: str
    group_id: str
    env_id: int
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, metric: _Optional[str] = ..., group_id: _Optional[str] = ..., env_id: _Optional[int] = ..., values: _Optional[_Iterable[float]] = ...) -> None: ...

class EventLogSection(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[EventLogEntry]
    def __init__(self, entries: _Optional[_Iterable[_Union[EventLogEntry, _Mapping]]] = ...) -> None: ...

class EventLogEntry(_message.Message):
    __slots__ = ("timestamp", "event_type", "severity", "env_id", "group_id", "message")
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    ENV_ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    timestamp: _timestamp_pb2.Timestamp
    event_type: _telemetry_pb2.EventType
    severity: _telemetry_pb2.Severity
    env_id: int
    group_id: str
    message: str
    def __init__(self, timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., event_type: _Optional[_Union[_telemetry_pb2.EventType, str]] = ..., severity: _Optional[_Union[_telemetry_pb2.Severity, str]] = ..., env_id: _Optional[int] = ..., group_id: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class DecisionSection(_message.Message):
    __slots__ = ("recent",)
    RECENT_FIELD_NUMBER: _ClassVar[int]
    recent: _containers.RepeatedCompositeFieldContainer[_telemetry_pb2.DecisionCard]
    def __init__(self, recent: _Optional[_Iterable[_Union[_telemetry_pb2.DecisionCard, _Mapping]]] = ...) -> None: ...

class LifecycleCounts(_message.Message):
    __slots__ = ("germinated", "fossilized", "pruned")
    GERMINATED_FIELD_NUMBER: _ClassVar[int]
    FOSSILIZED_FIELD_NUMBER: _ClassVar[int]
    PRUNED_FIELD_NUMBER: _ClassVar[int]
    germinated: int
    fossilized: int
    pruned: int
    def __init__(self, germinated: _Optional[int] = ..., fossilized: _Optional[int] = ..., pruned: _Optional[int] = ...) -> None: ...

class ProducerDelivery(_message.Message):
    __slots__ = ("producer_id", "last_seq", "events_applied", "events_duplicate", "gap_events", "dropped_total", "events_conflicting")
    PRODUCER_ID_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    EVENTS_APPLIED_FIELD_NUMBER: _ClassVar[int]
    EVENTS_DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    GAP_EVENTS_FIELD_NUMBER: _ClassVar[int]
    DROPPED_TOTAL_FIELD_NUMBER: _ClassVar[int]
    EVENTS_CONFLICTING_FIELD_NUMBER: _ClassVar[int]
    producer_id: str
    last_seq: int
    events_applied: int
    events_duplicate: int
    gap_events: int
    dropped_total: int
    events_conflicting: int
    def __init__(self, producer_id: _Optional[str] = ..., last_seq: _Optional[int] = ..., events_applied: _Optional[int] = ..., events_duplicate: _Optional[int] = ..., gap_events: _Optional[int] = ..., dropped_total: _Optional[int] = ..., events_conflicting: _Optional[int] = ...) -> None: ...

class DeliveryStats(_message.Message):
    __slots__ = ("events_received", "events_applied", "events_duplicate", "events_rejected", "gap_events", "producer_dropped", "producers", "events_conflicting")
    EVENTS_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    EVENTS_APPLIED_FIELD_NUMBER: _ClassVar[int]
    EVENTS_DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    EVENTS_REJECTED_FIELD_NUMBER: _ClassVar[int]
    GAP_EVENTS_FIELD_NUMBER: _ClassVar[int]
    PRODUCER_DROPPED_FIELD_NUMBER: _ClassVar[int]
    PRODUCERS_FIELD_NUMBER: _ClassVar[int]
    EVENTS_CONFLICTING_FIELD_NUMBER: _ClassVar[int]
    events_received: int
    events_applied: int
    events_duplicate: int
    events_rejected: int
    gap_events: int
    producer_dropped: int
    producers: _containers.RepeatedCompositeFieldContainer[ProducerDelivery]
    events_conflicting: int
    def __init__(self, events_received: _Optional[int] = ..., events_applied: _Optional[int] = ..., events_duplicate: _Optional[int] = ..., events_rejected: _Optional[int] = ..., gap_events: _Optional[int] = ..., producer_dropped: _Optional[int] = ..., producers: _Optional[_Iterable[_Union[ProducerDelivery, _Mapping]]] = ..., events_conflicting: _Optional[int] = ...) -> None: ...

class HealthFinding(_message.Message):
    __slots__ = ("rule_id", "severity", "observed", "threshold", "since", "since_update", "message", "group_id", "env_id", "head", "metric")
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    OBSERVED_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    SINCE_UPDATE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    ENV_ID_FIELD_NUMBER: _ClassVar[int]
    HEAD_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    rule_id: str
    severity: _telemetry_pb2.Severity
    observed: float
    threshold: float
    since: _timestamp_pb2.Timestamp
    since_update: int
    message: str
    group_id: str
    env_id: int
    head: _telemetry_pb2.ActionHead
    metric: str
    def __init__(self, rule_id: _Optional[str] = ..., severity: _Optional[_Union[_telemetry_pb2.Severity, str]] = ..., observed: _Optional[float] = ..., threshold: _Optional[float] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., since_update: _Optional[int] = ..., message: _Optional[str] = ..., group_id: _Optional[str] = ..., env_id: _Optional[int] = ..., head: _Optional[_Union[_telemetry_pb2.ActionHead, str]] = ..., metric: _Optional[str] = ...) -> None: ...

class MetricBand(_message.Message):
    __slots__ = ("group_id", "metric", "band", "severity")
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    BAND_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    group_id: str
    metric: str
    band: str
    severity: _telemetry_pb2.Severity
    def __init__(self, group_id: _Optional[str] = ..., metric: _Optional[str] = ..., band: _Optional[str] = ..., severity: _Optional[_Union[_telemetry_pb2.Severity, str]] = ...) -> None: ...

class HealthSection(_message.Message):
    __slots__ = ("status", "findings", "bands", "evaluated_updates")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    BANDS_FIELD_NUMBER: _ClassVar[int]
    EVALUATED_UPDATES_FIELD_NUMBER: _ClassVar[int]
    status: HealthStatus
    findings: _containers.RepeatedCompositeFieldContainer[HealthFinding]
    bands: _containers.RepeatedCompositeFieldContainer[MetricBand]
    evaluated_updates: int
    def __init__(self, status: _Optional[_Union[HealthStatus, str]] = ..., findings: _Optional[_Iterable[_Union[HealthFinding, _Mapping]]] = ..., bands: _Optional[_Iterable[_Union[MetricBand, _Mapping]]] = ..., evaluated_updates: _Optional[int] = ...) -> None: ...

class SeriesKey(_message.Message):
    __slots__ = ("name", "group_id", "env_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    ENV_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    group_id: str
    env_id: int
    def __init__(self, name: _Optional[str] = ..., group_id: _Optional[str] = ..., env_id: _Optional[int] = ...) -> None: ...

class SeriesSelector(_message.Message):
    __slots__ = ("name", "group_id", "env_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    ENV_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    group_id: str
    env_id: int
    def __init__(self, name: _Optional[str] = ..., group_id: _Optional[str] = ..., env_id: _Optional[int] = ...) -> None: ...

class SeriesRequest(_message.Message):
    __slots__ = ("run_id", "series", "step_from", "step_to", "time_from", "time_to", "max_points")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    SERIES_FIELD_NUMBER: _ClassVar[int]
    STEP_FROM_FIELD_NUMBER: _ClassVar[int]
    STEP_TO_FIELD_NUMBER: _ClassVar[int]
    TIME_FROM_FIELD_NUMBER: _ClassVar[int]
    TIME_TO_FIELD_NUMBER: _ClassVar[int]
    MAX_POINTS_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    series: _containers.RepeatedCompositeFieldContainer[SeriesSelector]
    step_from: int
    step_to: int
    time_from: _timestamp_pb2.Timestamp
    time_to: _timestamp_pb2.Timestamp
    max_points: int
    def __init__(self, run_id: _Optional[str] = ..., series: _Optional[_Iterable[_Union[SeriesSelector, _Mapping]]] = ..., step_from: _Optional[int] = ..., step_to: _Optional[int] = ..., time_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., time_to: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., max_points: _Optional[int] = ...) -> None: ...

class SeriesData(_message.Message):
    __slots__ = ("key", "total_points", "points_in_range", "downsampled", "steps", "times", "values")
    KEY_FIELD_NUMBER: _ClassVar[int]
    TOTAL_POINTS_FIELD_NUMBER: _ClassVar[int]
    POINTS_IN_RANGE_FIELD_NUMBER: _ClassVar[int]
    DOWNSAMPLED_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    TIMES_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    key: SeriesKey
    total_points: int
    points_in_range: int
    downsampled: bool
    steps: _containers.RepeatedScalarFieldContainer[int]
    times: _containers.RepeatedScalarFieldContainer[float]
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, key: _Optional[_Union[SeriesKey, _Mapping]] = ..., total_points: _Optional[int] = ..., points_in_range: _Optional[int] = ..., downsampled: _Optional[bool] = ..., steps: _Optional[_Iterable[int]] = ..., times: _Optional[_Iterable[float]] = ..., values: _Optional[_Iterable[float]] = ...) -> None: ...

class SeriesReadStats(_message.Message):
    __slots__ = ("blocks_read", "points_decoded", "damaged_blocks")
    BLOCKS_READ_FIELD_NUMBER: _ClassVar[int]
    POINTS_DECODED_FIELD_NUMBER: _ClassVar[int]
    DAMAGED_BLOCKS_FIELD_NUMBER: _ClassVar[int]
    blocks_read: int
    points_decoded: int
    damaged_blocks: int
    def __init__(self, blocks_read: _Optional[int] = ..., points_decoded: _Optional[int] = ..., damaged_blocks: _Optional[int] = ...) -> None: ...

class SeriesResponse(_message.Message):
    __slots__ = ("run_id", "series", "stats")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    SERIES_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    series: _containers.RepeatedCompositeFieldContainer[SeriesData]
    stats: SeriesReadStats
    def __init__(self, run_id: _Optional[str] = ..., series: _Optional[_Iterable[_Union[SeriesData, _Mapping]]] = ..., stats: _Optional[_Union[SeriesReadStats, _Mapping]] = ...) -> None: ...

class ExportRequest(_message.Message):
    __slots__ = ("run_id",)
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    def __init__(self, run_id: _Optional[str] = ...) -> None: ...

class ExportResponse(_message.Message):
    __slots__ = ("summary", "config", "series")
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    SERIES_FIELD_NUMBER: _ClassVar[int]
    summary: RunSummary
    config: _telemetry_pb2.RunConfig
    series: SeriesData
    def __init__(self, summary: _Optional[_Union[RunSummary, _Mapping]] = ..., config: _Optional[_Union[_telemetry_pb2.RunConfig, _Mapping]] = ..., series: _Optional[_Union[SeriesData, _Mapping]] = ...) -> None: ...

class DeleteRunRequest(_message.Message):
    __slots__ = ("run_id",)
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    def __init__(self, run_id: _Optional[str] = ...) -> None: ...

class DeleteRunResponse(_message.Message):
    __slots__ = ("events_deleted",)
    EVENTS_DELETED_FIELD_NUMBER: _ClassVar[int]
    events_deleted: int
    def __init__(self, events_deleted: _Optional[int] = ...) -> None: ...

class UserMetric(_message.Message):
    __slots__ = ("name", "group_id", "env_id", "value", "step", "history")
    NAME_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    ENV_ID_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    name: str
    group_id: str
    env_id: int
    value: float
    step: int
    history: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, name: _Optional[str] = ..., group_id: _Optional[str] = ..., env_id: _Optional[int] = ..., value: _Optional[float] = ..., step: _Optional[int] = ..., history: _Optional[_Iterable[float]] = ...) -> None: ...

class MetricsSection(_message.Message):
    __slots__ = ("metrics", "refused")
    METRICS_FIELD_NUMBER: _ClassVar[int]
    REFUSED_FIELD_NUMBER: _ClassVar[int]
    metrics: _containers.RepeatedCompositeFieldContainer[UserMetric]
    refused: int
    def __init__(self, metrics: _Optional[_Iterable[_Union[UserMetric, _Mapping]]] = ..., refused: _Optional[int] = ...) -> None: ...

class SnapshotDelta(_message.Message):
    __slots__ = ("run_id", "base_version", "version", "full_bytes", "set", "cleared", "run", "groups", "series", "event_log", "decisions", "envs")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    BASE_VERSION_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    FULL_BYTES_FIELD_NUMBER: _ClassVar[int]
    SET_FIELD_NUMBER: _ClassVar[int]
    CLEARED_FIELD_NUMBER: _ClassVar[int]
    RUN_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    SERIES_FIELD_NUMBER: _ClassVar[int]
    EVENT_LOG_FIELD_NUMBER: _ClassVar[int]
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    ENVS_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    base_version: int
    version: int
    full_bytes: int
    set: SanctumSnapshot
    cleared: _containers.RepeatedScalarFieldContainer[int]
    run: RunPatch
    groups: _containers.RepeatedCompositeFieldContainer[GroupPatch]
    series: _containers.RepeatedCompositeFieldContainer[SeriesAppend]
    event_log: EventLogAppend
    decisions: DecisionAppend
    envs: EnvsPatch
    def __init__(self, run_id: _Optional[str] = ..., base_version: _Optional[int] = ..., version: _Optional[int] = ..., full_bytes: _Optional[int] = ..., set: _Optional[_Union[SanctumSnapshot, _Mapping]] = ..., cleared: _Optional[_Iterable[int]] = ..., run: _Optional[_Union[RunPatch, _Mapping]] = ..., groups: _Optional[_Iterable[_Union[GroupPatch, _Mapping]]] = ..., series: _Optional[_Iterable[_Union[SeriesAppend, _Mapping]]] = ..., event_log: _Optional[_Union[EventLogAppend, _Mapping]] = ..., decisions: _Optional[_Union[DecisionAppend, _Mapping]] = ..., envs: _Optional[_Union[EnvsPatch, _Mapping]] = ...) -> None: ...

class RunPatch(_message.Message):
    __slots__ = ("set", "cleared")
    SET_FIELD_NUMBER: _ClassVar[int]
    CLEARED_FIELD_NUMBER: _ClassVar[int]
    set: RunSection
    cleared: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, set: _Optional[_Union[RunSection, _Mapping]] = ..., cleared: _Optional[_Iterable[int]] = ...) -> None: ...

class GroupPatch(_message.Message):
    __slots__ = ("index", "set", "cleared")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    SET_FIELD_NUMBER: _ClassVar[int]
    CLEARED_FIELD_NUMBER: _ClassVar[int]
    index: int
    set: PolicyGroup
    cleared: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, index: _Optional[int] = ..., set: _Optional[_Union[PolicyGroup, _Mapping]] = ..., cleared: _Optional[_Iterable[int]] = ...) -> None: ...

class EnvsPatch(_message.Message):
    __slots__ = ("set", "cleared", "envs")
    SET_FIELD_NUMBER: _ClassVar[int]
    CLEARED_FIELD_NUMBER: _ClassVar[int]
    ENVS_FIELD_NUMBER: _ClassVar[int]
    set: EnvSection
    cleared: _containers.RepeatedScalarFieldContainer[int]
    envs: _containers.RepeatedCompositeFieldContainer[EnvPatch]
    def __init__(self, set: _Optional[_Union[EnvSection, _Mapping]] = ..., cleared: _Optional[_Iterable[int]] = ..., envs: _Optional[_Iterable[_Union[EnvPatch, _Mapping]]] = ...) -> None: ...

class EnvPatch(_message.Message):
    __slots__ = ("index", "set", "cleared", "seeds_set", "seeds_removed")
    class SeedsSetEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _telemetry_pb2.SeedTelemetry
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_telemetry_pb2.SeedTelemetry, _Mapping]] = ...) -> None: ...
    INDEX_FIELD_NUMBER: _ClassVar[int]
    SET_FIELD_NUMBER: _ClassVar[int]
    CLEARED_FIELD_NUMBER: _ClassVar[int]
    SEEDS_SET_FIELD_NUMBER: _ClassVar[int]
    SEEDS_REMOVED_FIELD_NUMBER: _ClassVar[int]
    index: int
    set: EnvState
    cleared: _containers.RepeatedScalarFieldContainer[int]
    seeds_set: _containers.MessageMap[str, _telemetry_pb2.SeedTelemetry]
    seeds_removed: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, index: _Optional[int] = ..., set: _Optional[_Union[EnvState, _Mapping]] = ..., cleared: _Optional[_Iterable[int]] = ..., seeds_set: _Optional[_Mapping[str, _telemetry_pb2.SeedTelemetry]] = ..., seeds_removed: _Optional[_Iterable[str]] = ...) -> None: ...

class SeriesAppend(_message.Message):
    __slots__ = ("index", "dropped", "values")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    index: int
    dropped: int
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, index: _Optional[int] = ..., dropped: _Optional[int] = ..., values: _Optional[_Iterable[float]] = ...) -> None: ...

class EventLogAppend(_message.Message):
    __slots__ = ("dropped", "entries")
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    dropped: int
    entries: _containers.RepeatedCompositeFieldContainer[EventLogEntry]
    def __init__(self, dropped: _Optional[int] = ..., entries: _Optional[_Iterable[_Union[EventLogEntry, _Mapping]]] = ...) -> None: ...

class DecisionAppend(_message.Message):
    __slots__ = ("dropped", "recent")
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    RECENT_FIELD_NUMBER: _ClassVar[int]
    dropped: int
    recent: _containers.RepeatedCompositeFieldContainer[_telemetry_pb2.DecisionCard]
    def __init__(self, dropped: _Optional[int] = ..., recent: _Optional[_Iterable[_Union[_telemetry_pb2.DecisionCard, _Mapping]]] = ...) -> None: ...

class IngestStreamRequest(_message.Message):
    __slots__ = ("batch",)
    BATCH_FIELD_NUMBER: _ClassVar[int]
    batch: _telemetry_pb2.EventBatch
    def __init__(self, batch: _Optional[_Union[_telemetry_pb2.EventBatch, _Mapping]] = ...) -> None: ...

class IngestStreamResponse(_message.Message):
    __slots__ = ("batch", "events_received", "events_applied", "events_duplicate", "events_conflicting", "cursors")
    BATCH_FIELD_NUMBER: _ClassVar[int]
    EVENTS_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    EVENTS_APPLIED_FIELD_NUMBER: _ClassVar[int]
    EVENTS_DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    EVENTS_CONFLICTING_FIELD_NUMBER: _ClassVar[int]
    CURSORS_FIELD_NUMBER: _ClassVar[int]
    batch: int
    events_received: int
    events_applied: int
    events_duplicate: int
    events_conflicting: int
    cursors: _containers.RepeatedCompositeFieldContainer[ProducerCursor]
    def __init__(self, batch: _Optional[int] = ..., events_received: _Optional[int] = ..., events_applied: _Optional[int] = ..., events_duplicate: _Optional[int] = ..., events_conflicting: _Optional[int] = ..., cursors: _Optional[_Iterable[_Union[ProducerCursor, _Mapping]]] = ...) -> None: ...
