from esper.sanctum.v2 import sanctum_pb2 as _sanctum_pb2
from esper.telemetry.v1 import telemetry_pb2 as _telemetry_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CheckpointRun(_message.Message):
    __slots__ = ("run_id", "version", "has_config", "delivery", "last_event_time", "events_applied", "state", "envs", "decisions", "last_decisions", "batch_marks", "series", "last_updates", "last_vitals")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    HAS_CONFIG_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_FIELD_NUMBER: _ClassVar[int]
    LAST_EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    EVENTS_APPLIED_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ENVS_FIELD_NUMBER: _ClassVar[int]
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    LAST_DECISIONS_FIELD_NUMBER: _ClassVar[int]
    BATCH_MARKS_FIELD_NUMBER: _ClassVar[int]
    SERIES_FIELD_NUMBER: _ClassVar[int]
    LAST_UPDATES_FIELD_NUMBER: _ClassVar[int]
    LAST_VITALS_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    version: int
    has_config: bool
    delivery: _sanctum_pb2.DeliveryStats
    last_event_time: float
    events_applied: int
    state: _sanctum_pb2.SanctumSnapshot
    envs: _containers.RepeatedCompositeFieldContainer[CheckpointEnv]
    decisions: _containers.RepeatedCompositeFieldContainer[_telemetry_pb2.DecisionCard]
    last_decisions: _containers.RepeatedCompositeFieldContainer[CheckpointLastDecision]
    batch_marks: _containers.RepeatedCompositeFieldContainer[CheckpointBatchMark]
    series: _containers.RepeatedCompositeFieldContainer[CheckpointSeries]
    last_updates: _containers.RepeatedCompositeFieldContainer[CheckpointGroupUpdate]
    last_vitals: _telemetry_pb2.SystemVitalsPayload
    def __init__(self, run_id: _Optional[str] = ..., version: _Optional[int] = ..., has_config: _Optional[bool] = ..., delivery: _Optional[_Union[_sanctum_pb2.DeliveryStats, _Mapping]] = ..., last_event_time: _Optional[float] = ..., events_applied: _Optional[int] = ..., state: _Optional[_Union[_sanctum_pb2.SanctumSnapshot, _Mapping]] = ..., envs: _Optional[_Iterable[_Union[CheckpointEnv, _Mapping]]] = ..., decisions: _Optional[_Iterable[_Union[_telemetry_pb2.DecisionCard, _Mapping]]] = ..., last_decisions: _Optional[_Iterable[_Union[CheckpointLastDecision, _Mapping]]] = ..., batch_marks: _Optional[_Iterable[_Union[CheckpointBatchMark, _Mapping]]] = ..., series: _Optional[_Iterable[_Union[CheckpointSeries, _Mapping]]] = ..., last_updates: _Optional[_Iterable[_Union[CheckpointGroupUpdate, _Mapping]]] = ..., last_vitals: _Optional[_Union[_telemetry_pb2.SystemVitalsPayload, _Mapping]] = ...) -> None: ...

class CheckpointEnv(_message.Message):
    __slots__ = ("group_id", "env_id", "last_epoch", "best_accuracy", "cumulative_reward", "seeds", "counterfactuals", "series")
    class SeedsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _telemetry_pb2.SeedTelemetry
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_telemetry_pb2.SeedTelemetry, _Mapping]] = ...) -> None: ...
    class CounterfactualsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    ENV_ID_FIELD_NUMBER: _ClassVar[int]
    LAST_EPOCH_FIELD_NUMBER: _ClassVar[int]
    BEST_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    CUMULATIVE_REWARD_FIELD_NUMBER: _ClassVar[int]
    SEEDS_FIELD_NUMBER: _ClassVar[int]
    COUNTERFACTUALS_FIELD_NUMBER: _ClassVar[int]
    SERIES_FIELD_NUMBER: _ClassVar[int]
    group_id: str
    env_id: int
    last_epoch: _telemetry_pb2.TelemetryEvent
    best_accuracy: float
    cumulative_reward: float
    seeds: _containers.MessageMap[str, _telemetry_pb2.SeedTelemetry]
    counterfactuals: _containers.ScalarMap[str, float]
    series: _containers.RepeatedCompositeFieldContainer[CheckpointSeries]
    def __init__(self, group_id: _Optional[str] = ..., env_id: _Optional[int] = ..., last_epoch: _Optional[_Union[_telemetry_pb2.TelemetryEvent, _Mapping]] = ..., best_accuracy: _Optional[float] = ..., cumulative_reward: _Optional[float] = ..., seeds: _Optional[_Mapping[str, _telemetry_pb2.SeedTelemetry]] = ..., counterfactuals: _Optional[_Mapping[str, float]] = ..., series: _Optional[_Iterable[_Union[CheckpointSeries, _Mapping]]] = ...) -> None: ...

class CheckpointLastDecision(_message.Message):
    __slots__ = ("group_id", "recent_index", "decision")
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    RECENT_INDEX_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    group_id: str
    recent_index: int
    decision: _telemetry_pb2.DecisionCard
    def __init__(self, group_id: _Optional[str] = ..., recent_index: _Optional[int] = ..., decision: _Optional[_Union[_telemetry_pb2.DecisionCard, _Mapping]] = ...) -> None: ...

class CheckpointBatchMark(_message.Message):
    __slots__ = ("received_at", "episodes_completed")
    RECEIVED_AT_FIELD_NUMBER: _ClassVar[int]
    EPISODES_COMPLETED_FIELD_NUMBER: _ClassVar[int]
    received_at: float
    episodes_completed: int
    def __init__(self, received_at: _Optional[float] = ..., episodes_completed: _Optional[int] = ...) -> None: ...

class CheckpointSeries(_message.Message):
    __slots__ = ("metric", "group_id", "values")
    METRIC_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    metric: str
    group_id: str
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, metric: _Optional[str] = ..., group_id: _Optional[str] = ..., values: _Optional[_Iterable[float]] = ...) -> None: ...

class CheckpointGroupUpdate(_message.Message):
    __slots__ = ("group_id", "update")
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    UPDATE_FIELD_NUMBER: _ClassVar[int]
    group_id: str
    update: _telemetry_pb2.PPOUpdatePayload
    def __init__(self, group_id: _Optional[str] = ..., update: _Optional[_Union[_telemetry_pb2.PPOUpdatePayload, _Mapping]] = ...) -> None: ...

class CheckpointProducer(_message.Message):
    __slots__ = ("run_id", "producer_id", "cursor", "digest_ring")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    PRODUCER_ID_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    DIGEST_RING_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    producer_id: str
    cursor: int
    digest_ring: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, run_id: _Optional[str] = ..., producer_id: _Optional[str] = ..., cursor: _Optional[int] = ..., digest_ring: _Optional[_Iterable[int]] = ...) -> None: ...

class CheckpointGroups(_message.Message):
    __slots__ = ("run_id", "group_ids")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_IDS_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    group_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, run_id: _Optional[str] = ..., group_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class AggregatorCheckpoint(_message.Message):
    __slots__ = ("through_batch", "events", "runs", "producers", "planned_groups", "planned_runs")
    THROUGH_BATCH_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    RUNS_FIELD_NUMBER: _ClassVar[int]
    PRODUCERS_FIELD_NUMBER: _ClassVar[int]
    PLANNED_GROUPS_FIELD_NUMBER: _ClassVar[int]
    PLANNED_RUNS_FIELD_NUMBER: _ClassVar[int]
    through_batch: int
    events: int
    runs: _containers.RepeatedCompositeFieldContainer[CheckpointRun]
    producers: _containers.RepeatedCompositeFieldContainer[CheckpointProducer]
    planned_groups: _containers.RepeatedCompositeFieldContainer[CheckpointGroups]
    planned_runs: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, through_batch: _Optional[int] = ..., events: _Optional[int] = ..., runs: _Optional[_Iterable[_Union[CheckpointRun, _Mapping]]] = ..., producers: _Optional[_Iterable[_Union[CheckpointProducer, _Mapping]]] = ..., planned_groups: _Optional[_Iterable[_Union[CheckpointGroups, _Mapping]]] = ..., planned_runs: _Optional[_Iterable[str]] = ...) -> None: ...
