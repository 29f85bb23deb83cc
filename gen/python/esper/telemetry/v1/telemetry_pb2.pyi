import datetime

from buf.validate import validate_pb2 as _validate_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_TYPE_UNSPECIFIED: _ClassVar[EventType]
    EVENT_TYPE_TRAINING_STARTED: _ClassVar[EventType]
    EVENT_TYPE_EPOCH_COMPLETED: _ClassVar[EventType]
    EVENT_TYPE_BATCH_EPOCH_COMPLETED: _ClassVar[EventType]
    EVENT_TYPE_PPO_UPDATE_COMPLETED: _ClassVar[EventType]
    EVENT_TYPE_SEED_GERMINATED: _ClassVar[EventType]
    EVENT_TYPE_SEED_STAGE_CHANGED: _ClassVar[EventType]
    EVENT_TYPE_SEED_GATE_EVALUATED: _ClassVar[EventType]
    EVENT_TYPE_SEED_FOSSILIZED: _ClassVar[EventType]
    EVENT_TYPE_SEED_PRUNED: _ClassVar[EventType]
    EVENT_TYPE_SEED_CULLED: _ClassVar[EventType]
    EVENT_TYPE_RATIO_EXPLOSION_DETECTED: _ClassVar[EventType]
    EVENT_TYPE_RATIO_COLLAPSE_DETECTED: _ClassVar[EventType]
    EVENT_TYPE_VALUE_COLLAPSE_DETECTED: _ClassVar[EventType]
    EVENT_TYPE_NUMERICAL_INSTABILITY_DETECTED: _ClassVar[EventType]
    EVENT_TYPE_GRADIENT_ANOMALY: _ClassVar[EventType]
    EVENT_TYPE_MEMORY_WARNING: _ClassVar[EventType]
    EVENT_TYPE_PLATEAU_DETECTED: _ClassVar[EventType]
    EVENT_TYPE_DEGRADATION_DETECTED: _ClassVar[EventType]
    EVENT_TYPE_IMPROVEMENT_DETECTED: _ClassVar[EventType]
    EVENT_TYPE_ANALYTICS_SNAPSHOT: _ClassVar[EventType]
    EVENT_TYPE_EPISODE_OUTCOME: _ClassVar[EventType]
    EVENT_TYPE_CHECKPOINT_LOADED: _ClassVar[EventType]
    EVENT_TYPE_TRAINING_COMPLETED: _ClassVar[EventType]
    EVENT_TYPE_SYSTEM_VITALS: _ClassVar[EventType]
    EVENT_TYPE_METRICS: _ClassVar[EventType]

class Severity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEVERITY_UNSPECIFIED: _ClassVar[Severity]
    SEVERITY_DEBUG: _ClassVar[Severity]
    SEVERITY_INFO: _ClassVar[Severity]
    SEVERITY_WARNING: _ClassVar[Severity]
    SEVERITY_ERROR: _ClassVar[Severity]
    SEVERITY_CRITICAL: _ClassVar[Severity]

class ActionHead(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACTION_HEAD_UNSPECIFIED: _ClassVar[ActionHead]
    ACTION_HEAD_OP: _ClassVar[ActionHead]
    ACTION_HEAD_SLOT: _ClassVar[ActionHead]
    ACTION_HEAD_BLUEPRINT: _ClassVar[ActionHead]
    ACTION_HEAD_STYLE: _ClassVar[ActionHead]
    ACTION_HEAD_TEMPO: _ClassVar[ActionHead]
    ACTION_HEAD_ALPHA_TARGET: _ClassVar[ActionHead]
    ACTION_HEAD_ALPHA_SPEED: _ClassVar[ActionHead]
    ACTION_HEAD_ALPHA_CURVE: _ClassVar[ActionHead]

class SeedStage(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEED_STAGE_UNSPECIFIED: _ClassVar[SeedStage]
    SEED_STAGE_DORMANT: _ClassVar[SeedStage]
    SEED_STAGE_GERMINATED: _ClassVar[SeedStage]
    SEED_STAGE_TRAINING: _ClassVar[SeedStage]
    SEED_STAGE_BLENDING: _ClassVar[SeedStage]
    SEED_STAGE_HOLDING: _ClassVar[SeedStage]
    SEED_STAGE_FOSSILIZED: _ClassVar[SeedStage]
    SEED_STAGE_PRUNED: _ClassVar[SeedStage]
    SEED_STAGE_EMBARGOED: _ClassVar[SeedStage]
    SEED_STAGE_RESETTING: _ClassVar[SeedStage]

class LifecycleOp(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LIFECYCLE_OP_UNSPECIFIED: _ClassVar[LifecycleOp]
    LIFECYCLE_OP_WAIT: _ClassVar[LifecycleOp]
    LIFECYCLE_OP_GERMINATE: _ClassVar[LifecycleOp]
    LIFECYCLE_OP_SET_ALPHA_TARGET: _ClassVar[LifecycleOp]
    LIFECYCLE_OP_PRUNE: _ClassVar[LifecycleOp]
    LIFECYCLE_OP_FOSSILIZE: _ClassVar[LifecycleOp]
    LIFECYCLE_OP_ADVANCE: _ClassVar[LifecycleOp]

class ScheduleKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SCHEDULE_KIND_UNSPECIFIED: _ClassVar[ScheduleKind]
    SCHEDULE_KIND_CONSTANT: _ClassVar[ScheduleKind]
    SCHEDULE_KIND_LINEAR: _ClassVar[ScheduleKind]
    SCHEDULE_KIND_COSINE: _ClassVar[ScheduleKind]
    SCHEDULE_KIND_EXPONENTIAL: _ClassVar[ScheduleKind]
EVENT_TYPE_UNSPECIFIED: EventType
EVENT_TYPE_TRAINING_STARTED: EventType
EVENT_TYPE_EPOCH_COMPLETED: EventType
EVENT_TYPE_BATCH_EPOCH_COMPLETED: EventType
EVENT_TYPE_PPO_UPDATE_COMPLETED: EventType
EVENT_TYPE_SEED_GERMINATED: EventType
EVENT_TYPE_SEED_STAGE_CHANGED: EventType
EVENT_TYPE_SEED_GATE_EVALUATED: EventType
EVENT_TYPE_SEED_FOSSILIZED: EventType
EVENT_TYPE_SEED_PRUNED: EventType
EVENT_TYPE_SEED_CULLED: EventType
EVENT_TYPE_RATIO_EXPLOSION_DETECTED: EventType
EVENT_TYPE_RATIO_COLLAPSE_DETECTED: EventType
EVENT_TYPE_VALUE_COLLAPSE_DETECTED: EventType
EVENT_TYPE_NUMERICAL_INSTABILITY_DETECTED: EventType
EVENT_TYPE_GRADIENT_ANOMALY: EventType
EVENT_TYPE_MEMORY_WARNING: EventType
EVENT_TYPE_PLATEAU_DETECTED: EventType
EVENT_TYPE_DEGRADATION_DETECTED: EventType
EVENT_TYPE_IMPROVEMENT_DETECTED: EventType
EVENT_TYPE_ANALYTICS_SNAPSHOT: EventType
EVENT_TYPE_EPISODE_OUTCOME: EventType
EVENT_TYPE_CHECKPOINT_LOADED: EventType
EVENT_TYPE_TRAINING_COMPLETED: EventType
EVENT_TYPE_SYSTEM_VITALS: EventType
EVENT_TYPE_METRICS: EventType
SEVERITY_UNSPECIFIED: Severity
SEVERITY_DEBUG: Severity
SEVERITY_INFO: Severity
SEVERITY_WARNING: Severity
SEVERITY_ERROR: Severity
SEVERITY_CRITICAL: Severity
ACTION_HEAD_UNSPECIFIED: ActionHead
ACTION_HEAD_OP: ActionHead
ACTION_HEAD_SLOT: ActionHead
ACTION_HEAD_BLUEPRINT: ActionHead
ACTION_HEAD_STYLE: ActionHead
ACTION_HEAD_TEMPO: ActionHead
ACTION_HEAD_ALPHA_TARGET: ActionHead
ACTION_HEAD_ALPHA_SPEED: ActionHead
ACTION_HEAD_ALPHA_CURVE: ActionHead
SEED_STAGE_UNSPECIFIED: SeedStage
SEED_STAGE_DORMANT: SeedStage
SEED_STAGE_GERMINATED: SeedStage
SEED_STAGE_TRAINING: SeedStage
SEED_STAGE_BLENDING: SeedStage
SEED_STAGE_HOLDING: SeedStage
SEED_STAGE_FOSSILIZED: SeedStage
SEED_STAGE_PRUNED: SeedStage
SEED_STAGE_EMBARGOED: SeedStage
SEED_STAGE_RESETTING: SeedStage
LIFECYCLE_OP_UNSPECIFIED: LifecycleOp
LIFECYCLE_OP_WAIT: LifecycleOp
LIFECYCLE_OP_GERMINATE: LifecycleOp
LIFECYCLE_OP_SET_ALPHA_TARGET: LifecycleOp
LIFECYCLE_OP_PRUNE: LifecycleOp
LIFECYCLE_OP_FOSSILIZE: LifecycleOp
LIFECYCLE_OP_ADVANCE: LifecycleOp
SCHEDULE_KIND_UNSPECIFIED: ScheduleKind
SCHEDULE_KIND_CONSTANT: ScheduleKind
SCHEDULE_KIND_LINEAR: ScheduleKind
SCHEDULE_KIND_COSINE: ScheduleKind
SCHEDULE_KIND_EXPONENTIAL: ScheduleKind

class EntropyAnneal(_message.Message):
    __slots__ = ("kind", "start", "end", "anneal_episodes")
    KIND_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    ANNEAL_EPISODES_FIELD_NUMBER: _ClassVar[int]
    kind: ScheduleKind
    start: float
    end: float
    anneal_episodes: int
    def __init__(self, kind: _Optional[_Union[ScheduleKind, str]] = ..., start: _Optional[float] = ..., end: _Optional[float] = ..., anneal_episodes: _Optional[int] = ...) -> None: ...

class HeadSpec(_message.Message):
    __slots__ = ("head", "n_actions")
    HEAD_FIELD_NUMBER: _ClassVar[int]
    N_ACTIONS_FIELD_NUMBER: _ClassVar[int]
    head: ActionHead
    n_actions: int
    def __init__(self, head: _Optional[_Union[ActionHead, str]] = ..., n_actions: _Optional[int] = ...) -> None: ...

class RunConfig(_message.Message):
    __slots__ = ("seed", "n_episodes", "lr", "clip_ratio", "entropy_coef", "param_budget", "resume_path", "entropy_anneal", "n_envs", "max_epochs", "task", "host_params", "slot_ids", "policy_device", "env_devices", "reward_mode", "compile_enabled", "compile_backend", "compile_mode", "heads", "blueprints", "ppo_epochs", "n_minibatches", "gamma", "gae_lambda", "world_size", "fault_injections", "hyperparameters", "tags")
    SEED_FIELD_NUMBER: _ClassVar[int]
    N_EPISODES_FIELD_NUMBER: _ClassVar[int]
    LR_FIELD_NUMBER: _ClassVar[int]
    CLIP_RATIO_FIELD_NUMBER: _ClassVar[int]
    ENTROPY_COEF_FIELD_NUMBER: _ClassVar[int]
    PARAM_BUDGET_FIELD_NUMBER: _ClassVar[int]
    RESUME_PATH_FIELD_NUMBER: _ClassVar[int]
    ENTROPY_ANNEAL_FIELD_NUMBER: _ClassVar[int]
    N_ENVS_FIELD_NUMBER: _ClassVar[int]
    MAX_EPOCHS_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    HOST_PARAMS_FIELD_NUMBER: _ClassVar[int]
    SLOT_IDS_FIELD_NUMBER: _ClassVar[int]
    POLICY_DEVICE_FIELD_NUMBER: _ClassVar[int]
    ENV_DEVICES_FIELD_NUMBER: _ClassVar[int]
    REWARD_MODE_FIELD_NUMBER: _ClassVar[int]
    COMPILE_ENABLED_FIELD_NUMBER: _ClassVar[int]
    COMPILE_BACKEND_FIELD_NUMBER: _ClassVar[int]
    COMPILE_MODE_FIELD_NUMBER: _ClassVar[int]
    HEADS_FIELD_NUMBER: _ClassVar[int]
    BLUEPRINTS_FIELD_NUMBER: _ClassVar[int]
    PPO_EPOCHS_FIELD_NUMBER: _ClassVar[int]
    N_MINIBATCHES_FIELD_NUMBER: _ClassVar[int]
    GAMMA_FIELD_NUMBER: _ClassVar[int]
    GAE_LAMBDA_FIELD_NUMBER: _ClassVar[int]
    WORLD_SIZE_FIELD_NUMBER: _ClassVar[int]
    FAULT_INJECTIONS_FIELD_NUMBER: _ClassVar[int]
    HYPERPARAMETERS_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    seed: int
    n_episodes: int
    lr: float
    clip_ratio: float
    entropy_coef: float
    param_budget: int
    resume_path: str
    entropy_anneal: EntropyAnneal
    n_envs: int
    max_epochs: int
    task: str
    host_params: int
    slot_ids: _containers.RepeatedScalarFieldContainer[str]
    policy_device: str
    env_devices: _containers.RepeatedScalarFieldContainer[str]
    reward_mode: str
    compile_enabled: bool
    compile_backend: str
    compile_mode: str
    heads: _containers.RepeatedCompositeFieldContainer[HeadSpec]
    blueprints: _containers.RepeatedScalarFieldContainer[str]
    ppo_epochs: int
    n_minibatches: int
    gamma: float
    gae_lambda: float
    world_size: int
    fault_injections: _containers.RepeatedScalarFieldContainer[str]
    hyperparameters: _containers.RepeatedCompositeFieldContainer[Hyperparameter]
    tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, seed: _Optional[int] = ..., n_episodes: _Optional[int] = ..., lr: _Optional[float] = ..., clip_ratio: _Optional[float] = ..., entropy_coef: _Optional[float] = ..., param_budget: _Optional[int] = ..., resume_path: _Optional[str] = ..., entropy_anneal: _Optional[_Union[EntropyAnneal, _Mapping]] = ..., n_envs: _Optional[int] = ..., max_epochs: _Optional[int] = ..., task: _Optional[str] = ..., host_params: _Optional[int] = ..., slot_ids: _Optional[_Iterable[str]] = ..., policy_device: _Optional[str] = ..., env_devices: _Optional[_Iterable[str]] = ..., reward_mode: _Optional[str] = ..., compile_enabled: _Optional[bool] = ..., compile_backend: _Optional[str] = ..., compile_mode: _Optional[str] = ..., heads: _Optional[_Iterable[_Union[HeadSpec, _Mapping]]] = ..., blueprints: _Optional[_Iterable[str]] = ..., ppo_epochs: _Optional[int] = ..., n_minibatches: _Optional[int] = ..., gamma: _Optional[float] = ..., gae_lambda: _Optional[float] = ..., world_size: _Optional[int] = ..., fault_injections: _Optional[_Iterable[str]] = ..., hyperparameters: _Optional[_Iterable[_Union[Hyperparameter, _Mapping]]] = ..., tags: _Optional[_Iterable[str]] = ...) -> None: ...

class Hyperparameter(_message.Message):
    __slots__ = ("name", "value")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: str
    def __init__(self, name: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class TrainingStartedPayload(_message.Message):
    __slots__ = ("config", "rank")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    config: RunConfig
    rank: int
    def __init__(self, config: _Optional[_Union[RunConfig, _Mapping]] = ..., rank: _Optional[int] = ...) -> None: ...

class SeedTelemetry(_message.Message):
    __slots__ = ("slot_id", "stage", "blueprint_id", "seed_id", "alpha", "accuracy_delta", "epochs_in_stage", "params", "grad_norm", "counterfactual")
    SLOT_ID_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    BLUEPRINT_ID_FIELD_NUMBER: _ClassVar[int]
    SEED_ID_FIELD_NUMBER: _ClassVar[int]
    ALPHA_FIELD_NUMBER: _ClassVar[int]
    ACCURACY_DELTA_FIELD_NUMBER: _ClassVar[int]
    EPOCHS_IN_STAGE_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    GRAD_NORM_FIELD_NUMBER: _ClassVar[int]
    COUNTERFACTUAL_FIELD_NUMBER: _ClassVar[int]
    slot_id: str
    stage: SeedStage
    blueprint_id: str
    seed_id: str
    alpha: float
    accuracy_delta: float
    epochs_in_stage: int
    params: int
    grad_norm: float
    counterfactual: float
    def __init__(self, slot_id: _Optional[str] = ..., stage: _Optional[_Union[SeedStage, str]] = ..., blueprint_id: _Optional[str] = ..., seed_id: _Optional[str] = ..., alpha: _Optional[float] = ..., accuracy_delta: _Optional[float] = ..., epochs_in_stage: _Optional[int] = ..., params: _Optional[int] = ..., grad_norm: _Optional[float] = ..., counterfactual: _Optional[float] = ...) -> None: ...

class EpochCompletedPayload(_message.Message):
    __slots__ = ("val_accuracy", "val_loss", "train_loss", "reward", "host_params", "seeds")
    VAL_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    VAL_LOSS_FIELD_NUMBER: _ClassVar[int]
    TRAIN_LOSS_FIELD_NUMBER: _ClassVar[int]
    REWARD_FIELD_NUMBER: _ClassVar[int]
    HOST_PARAMS_FIELD_NUMBER: _ClassVar[int]
    SEEDS_FIELD_NUMBER: _ClassVar[int]
    val_accuracy: float
    val_loss: float
    train_loss: float
    reward: float
    host_params: int
    seeds: _containers.RepeatedCompositeFieldContainer[SeedTelemetry]
    def __init__(self, val_accuracy: _Optional[float] = ..., val_loss: _Optional[float] = ..., train_loss: _Optional[float] = ..., reward: _Optional[float] = ..., host_params: _Optional[int] = ..., seeds: _Optional[_Iterable[_Union[SeedTelemetry, _Mapping]]] = ...) -> None: ...

class BatchEpochCompletedPayload(_message.Message):
    __slots__ = ("avg_accuracy", "avg_reward", "total_episodes", "episodes_completed", "batch_idx", "rolling_accuracy", "env_accuracies", "env_rewards")
    AVG_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    AVG_REWARD_FIELD_NUMBER: _ClassVar[int]
    TOTAL_EPISODES_FIELD_NUMBER: _ClassVar[int]
    EPISODES_COMPLETED_FIELD_NUMBER: _ClassVar[int]
    BATCH_IDX_FIELD_NUMBER: _ClassVar[int]
    ROLLING_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    ENV_ACCURACIES_FIELD_NUMBER: _ClassVar[int]
    ENV_REWARDS_FIELD_NUMBER: _ClassVar[int]
    avg_accuracy: float
    avg_reward: float
    total_episodes: int
    episodes_completed: int
    batch_idx: int
    rolling_accuracy: float
    env_accuracies: _containers.RepeatedScalarFieldContainer[float]
    env_rewards: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, avg_accuracy: _Optional[float] = ..., avg_reward: _Optional[float] = ..., total_episodes: _Optional[int] = ..., episodes_completed: _Optional[int] = ..., batch_idx: _Optional[int] = ..., rolling_accuracy: _Optional[float] = ..., env_accuracies: _Optional[_Iterable[float]] = ..., env_rewards: _Optional[_Iterable[float]] = ...) -> None: ...

class HeadMetrics(_message.Message):
    __slots__ = ("head", "entropy", "grad_norm")
    HEAD_FIELD_NUMBER: _ClassVar[int]
    ENTROPY_FIELD_NUMBER: _ClassVar[int]
    GRAD_NORM_FIELD_NUMBER: _ClassVar[int]
    head: ActionHead
    entropy: float
    grad_norm: float
    def __init__(self, head: _Optional[_Union[ActionHead, str]] = ..., entropy: _Optional[float] = ..., grad_norm: _Optional[float] = ...) -> None: ...

class PPOUpdatePayload(_message.Message):
    __slots__ = ("policy_loss", "value_loss", "entropy", "kl_divergence", "clip_fraction", "clip_fraction_positive", "clip_fraction_negative", "gradient_cv", "grad_norm", "pre_clip_grad_norm", "explained_variance", "value_mean", "value_std", "value_min", "value_max", "advantage_mean", "advantage_std", "ratio_min", "ratio_max", "dead_layers", "exploding_layers", "total_layers", "cuda_memory_allocated_gb", "cuda_memory_reserved_gb", "cuda_memory_peak_gb", "cuda_memory_fragmentation", "inner_epoch", "batch", "update_time_ms", "lr", "entropy_coef", "heads", "early_stop_epoch", "update_index", "fps", "step_time_ms", "nonfinite_loss_count", "nonfinite_grad_count", "optimizer_steps")
    POLICY_LOSS_FIELD_NUMBER: _ClassVar[int]
    VALUE_LOSS_FIELD_NUMBER: _ClassVar[int]
    ENTROPY_FIELD_NUMBER: _ClassVar[int]
    KL_DIVERGENCE_FIELD_NUMBER: _ClassVar[int]
    CLIP_FRACTION_FIELD_NUMBER: _ClassVar[int]
    CLIP_FRACTION_POSITIVE_FIELD_NUMBER: _ClassVar[int]
    CLIP_FRACTION_NEGATIVE_FIELD_NUMBER: _ClassVar[int]
    GRADIENT_CV_FIELD_NUMBER: _ClassVar[int]
    GRAD_NORM_FIELD_NUMBER: _ClassVar[int]
    PRE_CLIP_GRAD_NORM_FIELD_NUMBER: _ClassVar[int]
    EXPLAINED_VARIANCE_FIELD_NUMBER: _ClassVar[int]
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
    CUDA_MEMORY_ALLOCATED_GB_FIELD_NUMBER: _ClassVar[int]
    CUDA_MEMORY_RESERVED_GB_FIELD_NUMBER: _ClassVar[int]
    CUDA_MEMORY_PEAK_GB_FIELD_NUMBER: _ClassVar[int]
    CUDA_MEMORY_FRAGMENTATION_FIELD_NUMBER: _ClassVar[int]
    INNER_EPOCH_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    LR_FIELD_NUMBER: _ClassVar[int]
    ENTROPY_COEF_FIELD_NUMBER: _ClassVar[int]
    HEADS_FIELD_NUMBER: _ClassVar[int]
    EARLY_STOP_EPOCH_FIELD_NUMBER: _ClassVar[int]
    UPDATE_INDEX_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    STEP_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    NONFINITE_LOSS_COUNT_FIELD_NUMBER: _ClassVar[int]
    NONFINITE_GRAD_COUNT_FIELD_NUMBER: _ClassVar[int]
    OPTIMIZER_STEPS_FIELD_NUMBER: _ClassVar[int]
    policy_loss: float
    value_loss: float
    entropy: float
    kl_divergence: float
    clip_fraction: float
    clip_fraction_positive: float
    clip_fraction_negative: float
    gradient_cv: float
    grad_norm: float
    pre_clip_grad_norm: float
    explained_variance: float
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
    cuda_memory_allocated_gb: float
    cuda_memory_reserved_gb: float
    cuda_memory_peak_gb: float
    cuda_memory_fragmentation: float
    inner_epoch: int
    batch: int
    update_time_ms: float
    lr: float
    entropy_coef: float
    heads: _containers.RepeatedCompositeFieldContainer[HeadMetrics]
    early_stop_epoch: int
    update_index: int
    fps: float
    step_time_ms: float
    nonfinite_loss_count: int
    nonfinite_grad_count: int
    optimizer_steps: int
    def __init__(self, policy_loss: _Optional[float] = ..., value_loss: _Optional[float] = ..., entropy: _Optional[float] = ..., kl_divergence: _Optional[float] = ..., clip_fraction: _Optional[float] = ..., clip_fraction_positive: _Optional[float] = ..., clip_fraction_negative: _Optional[float] = ..., gradient_cv: _Optional[float] = ..., grad_norm: _Optional[float] = ..., pre_clip_grad_norm: _Optional[float] = ..., explained_variance: _Optional[float] = ..., value_mean: _Optional[float] = ..., value_std: _Optional[float] = ..., value_min: _Optional[float] = ..., value_max: _Optional[float] = ..., advantage_mean: _Optional[float] = ..., advantage_std: _Optional[float] = ..., ratio_min: _Optional[float] = ..., ratio_max: _Optional[float] = ..., dead_layers: _Optional[int] = ..., exploding_layers: _Optional[int] = ..., total_layers: _Optional[int] = ..., cuda_memory_allocated_gb: _Optional[float] = ..., cuda_memory_reserved_gb: _Optional[float] = ..., cuda_memory_peak_gb: _Optional[float] = ..., cuda_memory_fragmentation: _Optional[float] = ..., inner_epoch: _Optional[int] = ..., batch: _Optional[int] = ..., update_time_ms: _Optional[float] = ..., lr: _Optional[float] = ..., entropy_coef: _Optional[float] = ..., heads: _Optional[_Iterable[_Union[HeadMetrics, _Mapping]]] = ..., early_stop_epoch: _Optional[int] = ..., update_index: _Optional[int] = ..., fps: _Optional[float] = ..., step_time_ms: _Optional[float] = ..., nonfinite_loss_count: _Optional[int] = ..., nonfinite_grad_count: _Optional[int] = ..., optimizer_steps: _Optional[int] = ...) -> None: ...

class SeedGerminatedPayload(_message.Message):
    __slots__ = ("slot_id", "blueprint_id", "seed_id", "params")
    SLOT_ID_FIELD_NUMBER: _ClassVar[int]
    BLUEPRINT_ID_FIELD_NUMBER: _ClassVar[int]
    SEED_ID_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    slot_id: str
    blueprint_id: str
    seed_id: str
    params: int
    def __init__(self, slot_id: _Optional[str] = ..., blueprint_id: _Optional[str] = ..., seed_id: _Optional[str] = ..., params: _Optional[int] = ...) -> None: ...

class SeedStageChangedPayload(_message.Message):
    __slots__ = ("slot_id", "from_stage", "to_stage", "blueprint_id", "alpha")
    SLOT_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_STAGE_FIELD_NUMBER: _ClassVar[int]
    TO_STAGE_FIELD_NUMBER: _ClassVar[int]
    BLUEPRINT_ID_FIELD_NUMBER: _ClassVar[int]
    ALPHA_FIELD_NUMBER: _ClassVar[int]
    slot_id: str
    from_stage: SeedStage
    to_stage: SeedStage
    blueprint_id: str
    alpha: float
    def __init__(self, slot_id: _Optional[str] = ..., from_stage: _Optional[_Union[SeedStage, str]] = ..., to_stage: _Optional[_Union[SeedStage, str]] = ..., blueprint_id: _Optional[str] = ..., alpha: _Optional[float] = ...) -> None: ...

class SeedGateEvaluatedPayload(_message.Message):
    __slots__ = ("slot_id", "gate", "passed", "target_stage", "reason")
    SLOT_ID_FIELD_NUMBER: _ClassVar[int]
    GATE_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    TARGET_STAGE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    slot_id: str
    gate: str
    passed: bool
    target_stage: SeedStage
    reason: str
    def __init__(self, slot_id: _Optional[str] = ..., gate: _Optional[str] = ..., passed: _Optional[bool] = ..., target_stage: _Optional[_Union[SeedStage, str]] = ..., reason: _Optional[str] = ...) -> None: ...

class SeedFossilizedPayload(_message.Message):
    __slots__ = ("slot_id", "blueprint_id", "params_added", "improvement", "epochs_total", "counterfactual")
    SLOT_ID_FIELD_NUMBER: _ClassVar[int]
    BLUEPRINT_ID_FIELD_NUMBER: _ClassVar[int]
    PARAMS_ADDED_FIELD_NUMBER: _ClassVar[int]
    IMPROVEMENT_FIELD_NUMBER: _ClassVar[int]
    EPOCHS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    COUNTERFACTUAL_FIELD_NUMBER: _ClassVar[int]
    slot_id: str
    blueprint_id: str
    params_added: int
    improvement: float
    epochs_total: int
    counterfactual: float
    def __init__(self, slot_id: _Optional[str] = ..., blueprint_id: _Optional[str] = ..., params_added: _Optional[int] = ..., improvement: _Optional[float] = ..., epochs_total: _Optional[int] = ..., counterfactual: _Optional[float] = ...) -> None: ...

class SeedPrunedPayload(_message.Message):
    __slots__ = ("slot_id", "blueprint_id", "reason", "improvement", "epochs_total", "from_stage", "counterfactual")
    SLOT_ID_FIELD_NUMBER: _ClassVar[int]
    BLUEPRINT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    IMPROVEMENT_FIELD_NUMBER: _ClassVar[int]
    EPOCHS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    FROM_STAGE_FIELD_NUMBER: _ClassVar[int]
    COUNTERFACTUAL_FIELD_NUMBER: _ClassVar[int]
    slot_id: str
    blueprint_id: str
    reason: str
    improvement: float
    epochs_total: int
    from_stage: SeedStage
    counterfactual: float
    def __init__(self, slot_id: _Optional[str] = ..., blueprint_id: _Optional[str] = ..., reason: _Optional[str] = ..., improvement: _Optional[float] = ..., epochs_total: _Optional[int] = ..., from_stage: _Optional[_Union[SeedStage, str]] = ..., counterfactual: _Optional[float] = ...) -> None: ...

class AnomalyPayload(_message.Message):
    __slots__ = ("detail", "value", "threshold", "layers")
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    detail: str
    value: float
    threshold: float
    layers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, detail: _Optional[str] = ..., value: _Optional[float] = ..., threshold: _Optional[float] = ..., layers: _Optional[_Iterable[str]] = ...) -> None: ...

class MemoryWarningPayload(_message.Message):
    __slots__ = ("device", "used_gb", "total_gb", "utilization")
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    USED_GB_FIELD_NUMBER: _ClassVar[int]
    TOTAL_GB_FIELD_NUMBER: _ClassVar[int]
    UTILIZATION_FIELD_NUMBER: _ClassVar[int]
    device: str
    used_gb: float
    total_gb: float
    utilization: float
    def __init__(self, device: _Optional[str] = ..., used_gb: _Optional[float] = ..., total_gb: _Optional[float] = ..., utilization: _Optional[float] = ...) -> None: ...

class TrendPayload(_message.Message):
    __slots__ = ("metric", "slope", "window", "current")
    METRIC_FIELD_NUMBER: _ClassVar[int]
    SLOPE_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    metric: str
    slope: float
    window: int
    current: float
    def __init__(self, metric: _Optional[str] = ..., slope: _Optional[float] = ..., window: _Optional[int] = ..., current: _Optional[float] = ...) -> None: ...

class HeadChoice(_message.Message):
    __slots__ = ("head", "action", "probability", "entropy", "relevant", "valid_mask", "forced")
    HEAD_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    ENTROPY_FIELD_NUMBER: _ClassVar[int]
    RELEVANT_FIELD_NUMBER: _ClassVar[int]
    VALID_MASK_FIELD_NUMBER: _ClassVar[int]
    FORCED_FIELD_NUMBER: _ClassVar[int]
    head: ActionHead
    action: str
    probability: float
    entropy: float
    relevant: bool
    valid_mask: int
    forced: bool
    def __init__(self, head: _Optional[_Union[ActionHead, str]] = ..., action: _Optional[str] = ..., probability: _Optional[float] = ..., entropy: _Optional[float] = ..., relevant: _Optional[bool] = ..., valid_mask: _Optional[int] = ..., forced: _Optional[bool] = ...) -> None: ...

class DecisionCard(_message.Message):
    __slots__ = ("env_id", "op", "slot_id", "blueprint_id", "heads", "value_estimate", "reward", "epoch", "masked_actions", "group_id")
    ENV_ID_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    SLOT_ID_FIELD_NUMBER: _ClassVar[int]
    BLUEPRINT_ID_FIELD_NUMBER: _ClassVar[int]
    HEADS_FIELD_NUMBER: _ClassVar[int]
    VALUE_ESTIMATE_FIELD_NUMBER: _ClassVar[int]
    REWARD_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    MASKED_ACTIONS_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    env_id: int
    op: LifecycleOp
    slot_id: str
    blueprint_id: str
    heads: _containers.RepeatedCompositeFieldContainer[HeadChoice]
    value_estimate: float
    reward: float
    epoch: int
    masked_actions: int
    group_id: str
    def __init__(self, env_id: _Optional[int] = ..., op: _Optional[_Union[LifecycleOp, str]] = ..., slot_id: _Optional[str] = ..., blueprint_id: _Optional[str] = ..., heads: _Optional[_Iterable[_Union[HeadChoice, _Mapping]]] = ..., value_estimate: _Optional[float] = ..., reward: _Optional[float] = ..., epoch: _Optional[int] = ..., masked_actions: _Optional[int] = ..., group_id: _Optional[str] = ...) -> None: ...

class AnalyticsSnapshotPayload(_message.Message):
    __slots__ = ("decision",)
    DECISION_FIELD_NUMBER: _ClassVar[int]
    decision: DecisionCard
    def __init__(self, decision: _Optional[_Union[DecisionCard, _Mapping]] = ...) -> None: ...

class EpisodeOutcomePayload(_message.Message):
    __slots__ = ("final_accuracy", "total_reward", "params_added", "seeds_fossilized", "seeds_pruned")
    FINAL_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    TOTAL_REWARD_FIELD_NUMBER: _ClassVar[int]
    PARAMS_ADDED_FIELD_NUMBER: _ClassVar[int]
    SEEDS_FOSSILIZED_FIELD_NUMBER: _ClassVar[int]
    SEEDS_PRUNED_FIELD_NUMBER: _ClassVar[int]
    final_accuracy: float
    total_reward: float
    params_added: int
    seeds_fossilized: int
    seeds_pruned: int
    def __init__(self, final_accuracy: _Optional[float] = ..., total_reward: _Optional[float] = ..., params_added: _Optional[int] = ..., seeds_fossilized: _Optional[int] = ..., seeds_pruned: _Optional[int] = ...) -> None: ...

class CheckpointLoadedPayload(_message.Message):
    __slots__ = ("path", "episode")
    PATH_FIELD_NUMBER: _ClassVar[int]
    EPISODE_FIELD_NUMBER: _ClassVar[int]
    path: str
    episode: int
    def __init__(self, path: _Optional[str] = ..., episode: _Optional[int] = ...) -> None: ...

class TrainingCompletedPayload(_message.Message):
    __slots__ = ("total_episodes", "final_accuracy", "final_avg_reward", "wall_time_s", "status")
    TOTAL_EPISODES_FIELD_NUMBER: _ClassVar[int]
    FINAL_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    FINAL_AVG_REWARD_FIELD_NUMBER: _ClassVar[int]
    WALL_TIME_S_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    total_episodes: int
    final_accuracy: float
    final_avg_reward: float
    wall_time_s: float
    status: str
    def __init__(self, total_episodes: _Optional[int] = ..., final_accuracy: _Optional[float] = ..., final_avg_reward: _Optional[float] = ..., wall_time_s: _Optional[float] = ..., status: _Optional[str] = ...) -> None: ...

class MetricsPayload(_message.Message):
    __slots__ = ("step", "metrics")
    STEP_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    step: int
    metrics: _containers.RepeatedCompositeFieldContainer[Metric]
    def __init__(self, step: _Optional[int] = ..., metrics: _Optional[_Iterable[_Union[Metric, _Mapping]]] = ...) -> None: ...

class Metric(_message.Message):
    __slots__ = ("name", "value")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: float
    def __init__(self, name: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...

class SystemVitalsPayload(_message.Message):
    __slots__ = ("cpu_percent", "ram_used_gb", "ram_total_gb", "process_rss_gb", "gpu_memory_used_gb", "gpu_memory_total_gb", "gpu_utilization")
    CPU_PERCENT_FIELD_NUMBER: _ClassVar[int]
    RAM_USED_GB_FIELD_NUMBER: _ClassVar[int]
    RAM_TOTAL_GB_FIELD_NUMBER: _ClassVar[int]
    PROCESS_RSS_GB_FIELD_NUMBER: _ClassVar[int]
    GPU_MEMORY_USED_GB_FIELD_NUMBER: _ClassVar[int]
    GPU_MEMORY_TOTAL_GB_FIELD_NUMBER: _ClassVar[int]
    GPU_UTILIZATION_FIELD_NUMBER: _ClassVar[int]
    cpu_percent: float
    ram_used_gb: float
    ram_total_gb: float
    process_rss_gb: float
    gpu_memory_used_gb: float
    gpu_memory_total_gb: float
    gpu_utilization: float
    def __init__(self, cpu_percent: _Optional[float] = ..., ram_used_gb: _Optional[float] = ..., ram_total_gb: _Optional[float] = ..., process_rss_gb: _Optional[float] = ..., gpu_memory_used_gb: _Optional[float] = ..., gpu_memory_total_gb: _Optional[float] = ..., gpu_utilization: _Optional[float] = ...) -> None: ...

class TelemetryEvent(_message.Message):
    __slots__ = ("run_id", "producer_id", "seq", "timestamp", "event_type", "severity", "env_id", "group_id", "epoch", "episode", "batch", "training_started", "epoch_completed", "batch_epoch_completed", "ppo_update", "seed_germinated", "seed_stage_changed", "seed_gate_evaluated", "seed_fossilized", "seed_pruned", "anomaly", "memory_warning", "trend", "analytics_snapshot", "episode_outcome", "checkpoint_loaded", "training_completed", "system_vitals", "metrics")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    PRODUCER_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    ENV_ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    EPISODE_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    TRAINING_STARTED_FIELD_NUMBER: _ClassVar[int]
    EPOCH_COMPLETED_FIELD_NUMBER: _ClassVar[int]
    BATCH_EPOCH_COMPLETED_FIELD_NUMBER: _ClassVar[int]
    PPO_UPDATE_FIELD_NUMBER: _ClassVar[int]
    SEED_GERMINATED_FIELD_NUMBER: _ClassVar[int]
    SEED_STAGE_CHANGED_FIELD_NUMBER: _ClassVar[int]
    SEED_GATE_EVALUATED_FIELD_NUMBER: _ClassVar[int]
    SEED_FOSSILIZED_FIELD_NUMBER: _ClassVar[int]
    SEED_PRUNED_FIELD_NUMBER: _ClassVar[int]
    ANOMALY_FIELD_NUMBER: _ClassVar[int]
    MEMORY_WARNING_FIELD_NUMBER: _ClassVar[int]
    TREND_FIELD_NUMBER: _ClassVar[int]
    ANALYTICS_SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    EPISODE_OUTCOME_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_LOADED_FIELD_NUMBER: _ClassVar[int]
    TRAINING_COMPLETED_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_VITALS_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    producer_id: str
    seq: int
    timestamp: _timestamp_pb2.Timestamp
    event_type: EventType
    severity: Severity
    env_id: int
    group_id: str
    epoch: int
    episode: int
    batch: int
    training_started: TrainingStartedPayload
    epoch_completed: EpochCompletedPayload
    batch_epoch_completed: BatchEpochCompletedPayload
    ppo_update: PPOUpdatePayload
    seed_germinated: SeedGerminatedPayload
    seed_stage_changed: SeedStageChangedPayload
    seed_gate_evaluated: SeedGateEvaluatedPayload
    seed_fossilized: SeedFossilizedPayload
    seed_pruned: SeedPrunedPayload
    anomaly: AnomalyPayload
    memory_warning: MemoryWarningPayload
    trend: TrendPayload
    analytics_snapshot: AnalyticsSnapshotPayload
    episode_outcome: EpisodeOutcomePayload
    checkpoint_loaded: CheckpointLoadedPayload
    training_completed: TrainingCompletedPayload
    system_vitals: SystemVitalsPayload
    metrics: MetricsPayload
    def __init__(self, run_id: _Optional[str] = ..., producer_id: _Optional[str] = ..., seq: _Optional[int] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., event_type: _Optional[_Union[EventType, str]] = ..., severity: _Optional[_Union[Severity, str]] = ..., env_id: _Optional[int] = ..., group_id: _Optional[str] = ..., epoch: _Optional[int] = ..., episode: _Optional[int] = ..., batch: _Optional[int] = ..., training_started: _Optional[_Union[TrainingStartedPayload, _Mapping]] = ..., epoch_completed: _Optional[_Union[EpochCompletedPayload, _Mapping]] = ..., batch_epoch_completed: _Optional[_Union[BatchEpochCompletedPayload, _Mapping]] = ..., ppo_update: _Optional[_Union[PPOUpdatePayload, _Mapping]] = ..., seed_germinated: _Optional[_Union[SeedGerminatedPayload, _Mapping]] = ..., seed_stage_changed: _Optional[_Union[SeedStageChangedPayload, _Mapping]] = ..., seed_gate_evaluated: _Optional[_Union[SeedGateEvaluatedPayload, _Mapping]] = ..., seed_fossilized: _Optional[_Union[SeedFossilizedPayload, _Mapping]] = ..., seed_pruned: _Optional[_Union[SeedPrunedPayload, _Mapping]] = ..., anomaly: _Optional[_Union[AnomalyPayload, _Mapping]] = ..., memory_warning: _Optional[_Union[MemoryWarningPayload, _Mapping]] = ..., trend: _Optional[_Union[TrendPayload, _Mapping]] = ..., analytics_snapshot: _Optional[_Union[AnalyticsSnapshotPayload, _Mapping]] = ..., episode_outcome: _Optional[_Union[EpisodeOutcomePayload, _Mapping]] = ..., checkpoint_loaded: _Optional[_Union[CheckpointLoadedPayload, _Mapping]] = ..., training_completed: _Optional[_Union[TrainingCompletedPayload, _Mapping]] = ..., system_vitals: _Optional[_Union[SystemVitalsPayload, _Mapping]] = ..., metrics: _Optional[_Union[MetricsPayload, _Mapping]] = ...) -> None: ...

class ProducerDrops(_message.Message):
    __slots__ = ("run_id", "producer_id", "dropped_total")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    PRODUCER_ID_FIELD_NUMBER: _ClassVar[int]
    DROPPED_TOTAL_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    producer_id: str
    dropped_total: int
    def __init__(self, run_id: _Optional[str] = ..., producer_id: _Optional[str] = ..., dropped_total: _Optional[int] = ...) -> None: ...

class EventBatch(_message.Message):
    __slots__ = ("events", "drops")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    DROPS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[TelemetryEvent]
    drops: _containers.RepeatedCompositeFieldContainer[ProducerDrops]
    def __init__(self, events: _Optional[_Iterable[_Union[TelemetryEvent, _Mapping]]] = ..., drops: _Optional[_Iterable[_Union[ProducerDrops, _Mapping]]] = ...) -> None: ...
