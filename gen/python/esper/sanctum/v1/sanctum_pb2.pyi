import datetime

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
LIVENESS_UNSPECIFIED: Liveness
LIVENESS_LIVE: Liveness
LIVENESS_SLOW: Liveness
LIVENESS_STALE: Liveness
RUN_STATUS_UNSPECIFIED: RunStatus
RUN_STATUS_RUNNING: RunStatus
RUN_STATUS_COMPLETED: RunStatus
RUN_STATUS_STOPPED: RunStatus
RUN_STATUS_FAILED: RunStatus

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
    __slots__ = ("run_id", "max_hz")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    MAX_HZ_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    max_hz: float
    def __init__(self, run_id: _Optional[str] = ..., max_hz: _Optional[float] = ...) -> None: ...

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
    __slots__ = ("snapshot", "heartbeat")
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    snapshot: SanctumSnapshot
    heartbeat: Heartbeat
    def __init__(self, snapshot: _Optional[_Union[SanctumSnapshot, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ...) -> None: ...

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
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class RunSummary(_message.Message):
    __slots__ = ("run_id", "task", "liveness", "last_event_time", "episodes_completed", "total_episodes", "n_envs", "group_ids", "status", "events_applied", "status_reason", "group_count")
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
    def __init__(self, run_id: _Optional[str] = ..., task: _Optional[str] = ..., liveness: _Optional[_Union[Liveness, str]] = ..., last_event_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., episodes_completed: _Optional[int] = ..., total_episodes: _Optional[int] = ..., n_envs: _Optional[int] = ..., group_ids: _Optional[_Iterable[str]] = ..., status: _Optional[_Union[RunStatus, str]] = ..., events_applied: _Optional[int] = ..., status_reason: _Optional[str] = ..., group_count: _Optional[int] = ...) -> None: ...

class ListRunsResponse(_message.Message):
    __slots__ = ("runs", "next_page_token", "total_size")
    RUNS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    runs: _containers.RepeatedCompositeFieldContainer[RunSummary]
    next_page_token: str
    total_size: int
    def __init__(self, runs: _Optional[_Iterable[_Union[RunSummary, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class GradientQuality(_message.Message):
    __slots__ = ("gradient_cv", "clip_fraction_positive", "clip_fraction_negative")
    GRADIENT_CV_FIELD_NUMBER: _ClassVar[int]
    CLIP_FRACTION_POSITIVE_FIELD_NUMBER: _ClassVar[int]
    CLIP_FRACTION_NEGATIVE_FIELD_NUMBER: _ClassVar[int]
    gradient_cv: float
    clip_fraction_positive: float
    clip_fraction_negative: float
    def __init__(self, gradient_cv: _Optional[float] = ..., clip_fraction_positive: _Optional[float] = ..., clip_fraction_negative: _Optional[float] = ...) -> None: ...

class Infrastructure(_message.Message):
    __slots__ = ("cuda_memory_allocated_gb", "cuda_memory_reserved_gb", "cuda_memory_peak_gb", "cuda_memory_fragmentation", "compile_enabled", "compile_backend", "compile_mode", "fps", "step_time_ms")
    CUDA_MEMORY_ALLOCATED_GB_FIELD_NUMBER: _ClassVar[int]
    CUDA_MEMORY_RESERVED_GB_FIELD_NUMBER: _ClassVar[int]
    CUDA_MEMORY_PEAK_GB_FIELD_NUMBER: _ClassVar[int]
    CUDA_MEMORY_FRAGMENTATION_FIELD_NUMBER: _ClassVar[int]
    COMPILE_ENABLED_FIELD_NUMBER: _ClassVar[int]
    COMPILE_BACKEND_FIELD_NUMBER: _ClassVar[int]
    COMPILE_MODE_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    STEP_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    cuda_memory_allocated_gb: float
    cuda_memory_reserved_gb: float
    cuda_memory_peak_gb: float
    cuda_memory_fragmentation: float
    compile_enabled: bool
    compile_backend: str
    compile_mode: str
    fps: float
    step_time_ms: float
    def __init__(self, cuda_memory_allocated_gb: _Optional[float] = ..., cuda_memory_reserved_gb: _Optional[float] = ..., cuda_memory_peak_gb: _Optional[float] = ..., cuda_memory_fragmentation: _Optional[float] = ..., compile_enabled: _Optional[bool] = ..., compile_backend: _Optional[str] = ..., compile_mode: _Optional[str] = ..., fps: _Optional[float] = ..., step_time_ms: _Optional[float] = ...) -> None: ...

class TamiyoState(_message.Message):
    __slots__ = ("group_id", "ppo_data_received", "updates", "policy_loss", "value_loss", "entropy", "kl_divergence", "clip_fraction", "explained_variance", "grad_norm", "pre_clip_grad_norm", "value_mean", "value_std", "value_min", "value_max", "advantage_mean", "advantage_std", "ratio_min", "ratio_max", "dead_layers", "exploding_layers", "total_layers", "lr", "entropy_coef", "inner_epoch", "batch", "update_time_ms", "early_stop_epoch", "heads", "gradient_quality", "infrastructure", "last_decision", "nonfinite_loss_count", "nonfinite_grad_count", "optimizer_steps")
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    PPO_DATA_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    UPDATES_FIELD_NUMBER: _ClassVar[int]
    POLICY_LOSS_FIELD_NUMBER: _ClassVar[int]
    VALUE_LOSS_FIELD_NUMBER: _ClassVar[int]
    ENTROPY_FIELD_NUMBER: _ClassVar[int]
    KL_DIVERGENCE_FIELD_NUMBER: _ClassVar[int]
    CLIP_FRACTION_FIELD_NUMBER: _ClassVar[int]
    EXPLAINED_VARIANCE_FIELD_NUMBER: _ClassVar[int]
    GRAD_NORM_FIELD_NUMBER: _ClassVar[int]
    PRE_CLIP_GRAD_NORM_FIELD_NUMBER: _ClassVar[int]
    VALUE_MEAN_FIELD_NUMBER: _ClassVar[int]
    VALUE_STD_FIELD_NUMBER: _ClassVar[int]
    VALUE_MIN_FIELD_NUMBER: _ClassVar[int]
    VALUE_MAX_FIELD_NUMBER: _ClassVar[int]
    ADVANTAGE_MEAN_FIELD_NUMBER: _ClassVar[int]
    ADVANTAGE_STD_FIELD_NUMBER: _ClassVar[int]
    RATIO_MIN_FIELD_NUMBER: _ClassVar[int]
    RATIO_MAX_FIELD_NUMBER: _ClassVar[int]
    DEAD_LAYERS_FIELD_NUMBER: _ClassVar[int]
    EXPLODING_LAYERS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_LAYERS_FIELD_NUMBER: _ClassVar[int]
    LR_FIELD_NUMBER: _ClassVar[int]
    ENTROPY_COEF_FIELD_NUMBER: _ClassVar[int]
    INNER_EPOCH_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    EARLY_STOP_EPOCH_FIELD_NUMBER: _ClassVar[int]
    HEADS_FIELD_NUMBER: _ClassVar[int]
    GRADIENT_QUALITY_FIELD_NUMBER: _ClassVar[int]
    INFRASTRUCTURE_FIELD_NUMBER: _ClassVar[int]
    LAST_DECISION_FIELD_NUMBER: _ClassVar[int]
    NONFINITE_LOSS_COUNT_FIELD_NUMBER: _ClassVar[int]
    NONFINITE_GRAD_COUNT_FIELD_NUMBER: _ClassVar[int]
    OPTIMIZER_STEPS_FIELD_NUMBER: _ClassVar[int]
    group_id: str
    ppo_data_received: bool
    updates: int
    policy_loss: float
    value_loss: float
    entropy: float
    kl_divergence: float
    clip_fraction: float
    explained_variance: float
    grad_norm: float
    pre_clip_grad_norm: float
    value_mean: float
    value_std: float
    value_min: float
    value_max: float
    advantage_mean: float
    advantage_std: float
    ratio_min: float
    ratio_max: float
    dead_layers: int
    exploding_layers: int
    total_layers: int
    lr: float
    entropy_coef: float
    inner_epoch: int
    batch: int
    update_time_ms: float
    early_stop_epoch: int
    heads: _containers.RepeatedCompositeFieldContainer[_telemetry_pb2.HeadMetrics]
    gradient_quality: GradientQuality
    infrastructure: Infrastructure
    last_decision: _telemetry_pb2.DecisionCard
    nonfinite_loss_count: int
    nonfinite_grad_count: int
    optimizer_steps: int
    def __init__(self, group_id: _Optional[str] = ..., ppo_data_received: _Optional[bool] = ..., updates: _Optional[int] = ..., policy_loss: _Optional[float] = ..., value_loss: _Optional[float] = ..., entropy: _Optional[float] = ..., kl_divergence: _Optional[float] = ..., clip_fraction: _Optional[float] = ..., explained_variance: _Optional[float] = ..., grad_norm: _Optional[float] = ..., pre_clip_grad_norm: _Optional[float] = ..., value_mean: _Optional[float] = ..., value_std: _Optional[float] = ..., value_min: _Optional[float] = ..., value_max: _Optional[float] = ..., advantage_mean: _Optional[float] = ..., advantage_std: _Optional[float] = ..., ratio_min: _Optional[float] = ..., ratio_max: _Optional[float] = ..., dead_layers: _Optional[int] = ..., exploding_layers: _Optional[int] = ..., total_layers: _Optional[int] = ..., lr: _Optional[float] = ..., entropy_coef: _Optional[float] = ..., inner_epoch: _Optional[int] = ..., batch: _Optional[int] = ..., update_time_ms: _Optional[float] = ..., early_stop_epoch: _Optional[int] = ..., heads: _Optional[_Iterable[_Union[_telemetry_pb2.HeadMetrics, _Mapping]]] = ..., gradient_quality: _Optional[_Union[GradientQuality, _Mapping]] = ..., infrastructure: _Optional[_Union[Infrastructure, _Mapping]] = ..., last_decision: _Optional[_Union[_telemetry_pb2.DecisionCard, _Mapping]] = ..., nonfinite_loss_count: _Optional[int] = ..., nonfinite_grad_count: _Optional[int] = ..., optimizer_steps: _Optional[int] = ...) -> None: ...

class EnvState(_message.Message):
    __slots__ = ("env_id", "group_id", "accuracy", "best_accuracy", "reward", "cumulative_reward", "val_loss", "epoch", "episode", "host_params", "seeds", "accuracy_history", "reward_history")
    class SeedsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _telemetry_pb2.SeedTelemetry
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_telemetry_pb2.SeedTelemetry, _Mapping]] = ...) -> None: ...
    ENV_ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    ACCURACY_FIELD_NUMBER: _ClassVar[int]
    BEST_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    REWARD_FIELD_NUMBER: _ClassVar[int]
    CUMULATIVE_REWARD_FIELD_NUMBER: _ClassVar[int]
    VAL_LOSS_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    EPISODE_FIELD_NUMBER: _ClassVar[int]
    HOST_PARAMS_FIELD_NUMBER: _ClassVar[int]
    SEEDS_FIELD_NUMBER: _ClassVar[int]
    ACCURACY_HISTORY_FIELD_NUMBER: _ClassVar[int]
    REWARD_HISTORY_FIELD_NUMBER: _ClassVar[int]
    env_id: int
    group_id: str
    accuracy: float
    best_accuracy: float
    reward: float
    cumulative_reward: float
    val_loss: float
    epoch: int
    episode: int
    host_params: int
    seeds: _containers.MessageMap[str, _telemetry_pb2.SeedTelemetry]
    accuracy_history: _containers.RepeatedScalarFieldContainer[float]
    reward_history: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, env_id: _Optional[int] = ..., group_id: _Optional[str] = ..., accuracy: _Optional[float] = ..., best_accuracy: _Optional[float] = ..., reward: _Optional[float] = ..., cumulative_reward: _Optional[float] = ..., val_loss: _Optional[float] = ..., epoch: _Optional[int] = ..., episode: _Optional[int] = ..., host_params: _Optional[int] = ..., seeds: _Optional[_Mapping[str, _telemetry_pb2.SeedTelemetry]] = ..., accuracy_history: _Optional[_Iterable[float]] = ..., reward_history: _Optional[_Iterable[float]] = ...) -> None: ...

class Histories(_message.Message):
    __slots__ = ("policy_loss", "value_loss", "entropy", "kl_divergence", "explained_variance", "grad_norm", "clip_fraction", "avg_reward", "avg_accuracy")
    POLICY_LOSS_FIELD_NUMBER: _ClassVar[int]
    VALUE_LOSS_FIELD_NUMBER: _ClassVar[int]
    ENTROPY_FIELD_NUMBER: _ClassVar[int]
    KL_DIVERGENCE_FIELD_NUMBER: _ClassVar[int]
    EXPLAINED_VARIANCE_FIELD_NUMBER: _ClassVar[int]
    GRAD_NORM_FIELD_NUMBER: _ClassVar[int]
    CLIP_FRACTION_FIELD_NUMBER: _ClassVar[int]
    AVG_REWARD_FIELD_NUMBER: _ClassVar[int]
    AVG_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    policy_loss: _containers.RepeatedScalarFieldContainer[float]
    value_loss: _containers.RepeatedScalarFieldContainer[float]
    entropy: _containers.RepeatedScalarFieldContainer[float]
    kl_divergence: _containers.RepeatedScalarFieldContainer[float]
    explained_variance: _containers.RepeatedScalarFieldContainer[float]
    grad_norm: _containers.RepeatedScalarFieldContainer[float]
    clip_fraction: _containers.RepeatedScalarFieldContainer[float]
    avg_reward: _containers.RepeatedScalarFieldContainer[float]
    avg_accuracy: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, policy_loss: _Optional[_Iterable[float]] = ..., value_loss: _Optional[_Iterable[float]] = ..., entropy: _Optional[_Iterable[float]] = ..., kl_divergence: _Optional[_Iterable[float]] = ..., explained_variance: _Optional[_Iterable[float]] = ..., grad_norm: _Optional[_Iterable[float]] = ..., clip_fraction: _Optional[_Iterable[float]] = ..., avg_reward: _Optional[_Iterable[float]] = ..., avg_accuracy: _Optional[_Iterable[float]] = ...) -> None: ...

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

class SanctumSnapshot(_message.Message):
    __slots__ = ("run_id", "version", "generated_at", "task_name", "run_config", "tamiyo", "other_groups", "envs", "batch_avg_reward", "batch_total_episodes", "batch_avg_accuracy", "batch_rolling_accuracy", "current_batch", "episodes_completed", "histories", "event_log", "lifecycle", "liveness", "last_event_time", "seconds_since_last_event", "delivery", "vitals", "status", "completion", "episodes_per_second", "started_at", "recent_decisions", "aggregate_mean_reward", "trimmed")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    GENERATED_AT_FIELD_NUMBER: _ClassVar[int]
    TASK_NAME_FIELD_NUMBER: _ClassVar[int]
    RUN_CONFIG_FIELD_NUMBER: _ClassVar[int]
    TAMIYO_FIELD_NUMBER: _ClassVar[int]
    OTHER_GROUPS_FIELD_NUMBER: _ClassVar[int]
    ENVS_FIELD_NUMBER: _ClassVar[int]
    BATCH_AVG_REWARD_FIELD_NUMBER: _ClassVar[int]
    BATCH_TOTAL_EPISODES_FIELD_NUMBER: _ClassVar[int]
    BATCH_AVG_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    BATCH_ROLLING_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    CURRENT_BATCH_FIELD_NUMBER: _ClassVar[int]
    EPISODES_COMPLETED_FIELD_NUMBER: _ClassVar[int]
    HISTORIES_FIELD_NUMBER: _ClassVar[int]
    EVENT_LOG_FIELD_NUMBER: _ClassVar[int]
    LIFECYCLE_FIELD_NUMBER: _ClassVar[int]
    LIVENESS_FIELD_NUMBER: _ClassVar[int]
    LAST_EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    SECONDS_SINCE_LAST_EVENT_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_FIELD_NUMBER: _ClassVar[int]
    VITALS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_FIELD_NUMBER: _ClassVar[int]
    EPISODES_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    RECENT_DECISIONS_FIELD_NUMBER: _ClassVar[int]
    AGGREGATE_MEAN_REWARD_FIELD_NUMBER: _ClassVar[int]
    TRIMMED_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    version: int
    generated_at: _timestamp_pb2.Timestamp
    task_name: str
    run_config: _telemetry_pb2.RunConfig
    tamiyo: TamiyoState
    other_groups: _containers.RepeatedCompositeFieldContainer[TamiyoState]
    envs: _containers.RepeatedCompositeFieldContainer[EnvState]
    batch_avg_reward: float
    batch_total_episodes: int
    batch_avg_accuracy: float
    batch_rolling_accuracy: float
    current_batch: int
    episodes_completed: int
    histories: Histories
    event_log: _containers.RepeatedCompositeFieldContainer[EventLogEntry]
    lifecycle: LifecycleCounts
    liveness: Liveness
    last_event_time: _timestamp_pb2.Timestamp
    seconds_since_last_event: float
    delivery: DeliveryStats
    vitals: _telemetry_pb2.SystemVitalsPayload
    status: RunStatus
    completion: _telemetry_pb2.TrainingCompletedPayload
    episodes_per_second: float
    started_at: _timestamp_pb2.Timestamp
    recent_decisions: _containers.RepeatedCompositeFieldContainer[_telemetry_pb2.DecisionCard]
    aggregate_mean_reward: float
    trimmed: SnapshotTrim
    def __init__(self, run_id: _Optional[str] = ..., version: _Optional[int] = ..., generated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., task_name: _Optional[str] = ..., run_config: _Optional[_Union[_telemetry_pb2.RunConfig, _Mapping]] = ..., tamiyo: _Optional[_Union[TamiyoState, _Mapping]] = ..., other_groups: _Optional[_Iterable[_Union[TamiyoState, _Mapping]]] = ..., envs: _Optional[_Iterable[_Union[EnvState, _Mapping]]] = ..., batch_avg_reward: _Optional[float] = ..., batch_total_episodes: _Optional[int] = ..., batch_avg_accuracy: _Optional[float] = ..., batch_rolling_accuracy: _Optional[float] = ..., current_batch: _Optional[int] = ..., episodes_completed: _Optional[int] = ..., histories: _Optional[_Union[Histories, _Mapping]] = ..., event_log: _Optional[_Iterable[_Union[EventLogEntry, _Mapping]]] = ..., lifecycle: _Optional[_Union[LifecycleCounts, _Mapping]] = ..., liveness: _Optional[_Union[Liveness, str]] = ..., last_event_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., seconds_since_last_event: _Optional[float] = ..., delivery: _Optional[_Union[DeliveryStats, _Mapping]] = ..., vitals: _Optional[_Union[_telemetry_pb2.SystemVitalsPayload, _Mapping]] = ..., status: _Optional[_Union[RunStatus, str]] = ..., completion: _Optional[_Union[_telemetry_pb2.TrainingCompletedPayload, _Mapping]] = ..., episodes_per_second: _Optional[float] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., recent_decisions: _Optional[_Iterable[_Union[_telemetry_pb2.DecisionCard, _Mapping]]] = ..., aggregate_mean_reward: _Optional[float] = ..., trimmed: _Optional[_Union[SnapshotTrim, _Mapping]] = ...) -> None: ...

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
