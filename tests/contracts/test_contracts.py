"""The contracts: every payload round-trips, presence is kept, the seeds' fields exist."""

from __future__ import annotations

import math

import pytest
from google.protobuf import descriptor as _d

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_common import derived, events

PAYLOAD_FIELDS = [f.name for f in tpb.TelemetryEvent.DESCRIPTOR.oneofs_by_name["payload"].fields]


def _fill(msg) -> None:
    """Set every scalar field to a non-default value (recursively), so a round trip is real."""
    for f in msg.DESCRIPTOR.fields:
        if f.message_type is not None and f.message_type.full_name == "google.protobuf.Timestamp":
            getattr(msg, f.name).FromSeconds(1_700_000_000)
            continue
        if f.is_repeated:
            if f.message_type is not None and f.message_type.GetOptions().map_entry:
                value_field = f.message_type.fields_by_name["value"]
                if value_field.message_type is not None:
                    _fill(getattr(msg, f.name)["r0c0"])
                continue
            if f.message_type is not None:
                _fill(getattr(msg, f.name).add())
            else:
                getattr(msg, f.name).append(_sample(f))
            continue
        if f.message_type is not None:
            _fill(getattr(msg, f.name))
        else:
            setattr(msg, f.name, _sample(f))


def _sample(f: _d.FieldDescriptor):
    if f.type == _d.FieldDescriptor.TYPE_ENUM:
        return f.enum_type.values[-1].number
    if f.type == _d.FieldDescriptor.TYPE_STRING:
        return "r0c0"
    if f.type == _d.FieldDescriptor.TYPE_BOOL:
        return True
    if f.type in (_d.FieldDescriptor.TYPE_DOUBLE, _d.FieldDescriptor.TYPE_FLOAT):
        return 0.25
    return 3


@pytest.mark.parametrize("payload", PAYLOAD_FIELDS)
def test_every_payload_round_trips_through_bytes(payload: str) -> None:
    event = tpb.TelemetryEvent(run_id="run-1", producer_id="p0", seq=7, env_id=0)
    _fill(getattr(event, payload))
    assert event.WhichOneof("payload") == payload
    data = event.SerializeToString()
    back = tpb.TelemetryEvent.FromString(data)
    assert back == event
    assert back.WhichOneof("payload") == payload
    assert back.HasField("env_id") and back.env_id == 0


def test_snapshot_round_trips_fully_populated() -> None:
    snap = spb.SanctumSnapshot()
    _fill(snap)
    back = spb.SanctumSnapshot.FromString(snap.SerializeToString())
    assert back == snap
    assert back.envs.envs[0].seeds["r0c0"].blueprint_id == "r0c0"
    assert back.tamiyo.groups[0].last_update.heads[0].entropy == 0.25


def test_every_event_type_has_a_payload_and_every_payload_a_type() -> None:
    declared = {v.number for v in tpb.EventType.DESCRIPTOR.values if v.number != 0}
    assert declared == set(events.PAYLOAD_FOR_TYPE)
    assert set(events.PAYLOAD_FOR_TYPE.values()) == set(PAYLOAD_FIELDS)


def test_payload_matches_checks_type_against_oneof() -> None:
    ok = tpb.TelemetryEvent(
        event_type=tpb.EVENT_TYPE_SEED_CULLED, seed_pruned=tpb.SeedPrunedPayload(slot_id="r0c0")
    )
    wrong = tpb.TelemetryEvent(
        event_type=tpb.EVENT_TYPE_SEED_CULLED, ppo_update=tpb.PPOUpdatePayload()
    )
    empty = tpb.TelemetryEvent(event_type=tpb.EVENT_TYPE_PPO_UPDATE_COMPLETED)
    assert events.payload_matches(ok)
    assert not events.payload_matches(wrong)
    assert not events.payload_matches(empty)
    assert events.type_name(tpb.EVENT_TYPE_SEED_CULLED) == "SEED_CULLED"
    assert events.type_name(999).startswith("UNKNOWN")


def test_unset_optional_metric_stays_unset_and_zero_is_present() -> None:
    ppo = tpb.PPOUpdatePayload(policy_loss=0.1)
    back = tpb.PPOUpdatePayload.FromString(ppo.SerializeToString())
    for name in ("gradient_cv", "cuda_memory_allocated_gb", "cuda_memory_reserved_gb",
                 "cuda_memory_peak_gb", "cuda_memory_fragmentation", "early_stop_epoch"):
        assert not back.HasField(name), name
    measured_zero = tpb.PPOUpdatePayload(gradient_cv=0.0)
    back = tpb.PPOUpdatePayload.FromString(measured_zero.SerializeToString())
    assert back.HasField("gradient_cv") and back.gradient_cv == 0.0
    cfg = tpb.RunConfig.FromString(tpb.RunConfig(seed=0).SerializeToString())
    assert cfg.HasField("seed")
    assert not tpb.RunConfig().HasField("seed")


def test_memory_usage_percent_seed_example() -> None:
    measured = tpb.PPOUpdatePayload(cuda_memory_allocated_gb=4.2, cuda_memory_reserved_gb=8.0)
    assert derived.memory_usage_percent(measured) == pytest.approx(52.5)
    assert derived.memory_usage_percent(
        tpb.PPOUpdatePayload(cuda_memory_allocated_gb=1.0, cuda_memory_reserved_gb=0.0)
    ) == 0.0
    assert derived.memory_usage_percent(tpb.PPOUpdatePayload()) is None


@pytest.mark.parametrize(
    ("cv", "status"), [(0.0, "stable"), (0.42, "stable"), (0.5, "warn"), (1.99, "warn"),
                       (2.0, "BAD"), (math.inf, "BAD")]
)
def test_gradient_cv_status_bands(cv: float, status: str) -> None:
    assert derived.gradient_cv_status(cv) == status


def test_liveness_bands() -> None:
    assert derived.liveness_for_age(0.5) == spb.LIVENESS_LIVE
    assert derived.liveness_for_age(2.0) == spb.LIVENESS_SLOW
    assert derived.liveness_for_age(4.9) == spb.LIVENESS_SLOW
    assert derived.liveness_for_age(5.0) == spb.LIVENESS_STALE


# Every field the two seed plans name, as (seed's name, message, path in our contract).
# Per-head flat fields (head_slot_entropy, ...) map onto the repeated HeadMetrics keyed by
# ActionHead, as DESIGN.md asks.
SEED_FIELDS: list[tuple[str, object, str]] = [
    *[(n, tpb.RunConfig, n) for n in (
        "seed", "n_episodes", "lr", "clip_ratio", "entropy_coef", "param_budget", "resume_path",
        "entropy_anneal", "n_envs", "max_epochs", "task", "host_params", "slot_ids",
        "policy_device", "env_devices", "reward_mode", "compile_enabled", "compile_backend",
        "compile_mode")],
    ("run_config", spb.SanctumSnapshot, "run.config"),
    ("task_name", spb.SanctumSnapshot, "run.config.task"),
    ("batch_avg_reward", spb.SanctumSnapshot, "run.last_batch.avg_reward"),
    ("batch_total_episodes", spb.SanctumSnapshot, "run.last_batch.total_episodes"),
    ("aggregate_mean_reward", spb.SanctumSnapshot, "envs.mean_reward"),
    ("current_batch", spb.SanctumSnapshot, "run.last_batch.batch_idx"),
    *[(n, tpb.BatchEpochCompletedPayload, n) for n in (
        "avg_accuracy", "avg_reward", "total_episodes", "episodes_completed", "batch_idx",
        "rolling_accuracy", "env_accuracies")],
    *[(n, tpb.PPOUpdatePayload, n) for n in (
        "policy_loss", "value_loss", "entropy", "grad_norm", "kl_divergence", "clip_fraction",
        "clip_fraction_positive", "clip_fraction_negative", "gradient_cv",
        "cuda_memory_allocated_gb", "cuda_memory_reserved_gb", "cuda_memory_peak_gb",
        "cuda_memory_fragmentation", "inner_epoch", "batch", "update_time_ms",
        "explained_variance", "dead_layers", "exploding_layers", "lr", "entropy_coef",
        "early_stop_epoch")],
    # The seeds' TamiyoState: a policy group's latest update (its presence is the seeds'
    # ppo_data_received), sampled values as last measured, compile settings in the config.
    ("ppo_data_received", spb.PolicyGroup, "last_update"),
    *[(n, spb.PolicyGroup, f"last_update.{n}") for n in (
        "policy_loss", "value_loss", "entropy", "grad_norm", "kl_divergence", "clip_fraction",
        "dead_layers", "exploding_layers", "inner_epoch", "batch", "early_stop_epoch",
        "explained_variance", "clip_fraction_positive", "clip_fraction_negative")],
    *[(n, spb.PolicyGroup, f"last_measured.{n}") for n in (
        "gradient_cv", "cuda_memory_allocated_gb", "cuda_memory_reserved_gb",
        "cuda_memory_peak_gb", "cuda_memory_fragmentation")],
    *[(n, spb.SanctumSnapshot, f"run.config.{n}") for n in (
        "compile_enabled", "compile_backend", "compile_mode")],
    ("tamiyo", spb.SanctumSnapshot, "tamiyo.groups.last_update"),
    ("blueprint_id", tpb.SeedPrunedPayload, "blueprint_id"),
    ("blueprint_id", tpb.SeedTelemetry, "blueprint_id"),
    # seed 000's SEED_CULLED handler sets seed.counterfactual; seed 004: compile problems
    # "surface in throughput metrics (fps, step_time_ms)"
    *[("counterfactual", cls, "counterfactual") for cls in (
        tpb.SeedPrunedPayload, tpb.SeedFossilizedPayload, tpb.SeedTelemetry)],
    *[(n, cls, path) for n in ("fps", "step_time_ms")
      for cls, path in ((tpb.PPOUpdatePayload, n), (spb.PolicyGroup, f"last_update.{n}"))],
    ("seeds", spb.EnvState, "seeds"),
    *[(f"head_{h}_{m}", spb.PolicyGroup, f"last_update.heads[ACTION_HEAD_{h.upper()}].{m}")
      for h in ("slot", "blueprint") for m in ("entropy", "grad_norm")],
]


def _resolve(msg_cls, path: str) -> bool:
    desc = msg_cls.DESCRIPTOR
    for part in path.split("."):
        name, _, key = part.partition("[")
        field = desc.fields_by_name.get(name)
        if field is None:
            return False
        if key and tpb.ActionHead.DESCRIPTOR.values_by_name.get(key.rstrip("]")) is None:
            return False
        desc = field.message_type
    return True


def test_every_seed_field_exists_in_the_contracts() -> None:
    missing = [f"{seed} -> {cls.DESCRIPTOR.full_name}.{path}"
               for seed, cls, path in SEED_FIELDS if not _resolve(cls, path)]
    assert not missing, "fields named in the seed plans but missing: " + ", ".join(missing)


def test_valid_actions_of_a_decision_head() -> None:
    assert derived.valid_actions(tpb.HeadChoice(relevant=True, valid_mask=0b1011)) == 3
    assert derived.valid_actions(tpb.HeadChoice(relevant=True, valid_mask=0b100)) == 1  # forced
    assert derived.valid_actions(tpb.HeadChoice(valid_mask=0)) is None  # head not used
    # a producer that knows only whether the head was forced (the original's <head>_masked)
    assert derived.valid_actions(tpb.HeadChoice(relevant=True, forced=True)) == 1
    assert derived.valid_actions(tpb.HeadChoice(relevant=True)) is None  # mask not recorded


def test_measured_sometimes_fields_have_presence() -> None:
    """Not measured must be absent, never a measured-looking 0.0."""
    for cls, name in ((tpb.SeedPrunedPayload, "counterfactual"),
                      (tpb.SeedFossilizedPayload, "counterfactual"),
                      (tpb.SeedTelemetry, "counterfactual"), (tpb.PPOUpdatePayload, "fps"),
                      (tpb.PPOUpdatePayload, "step_time_ms")):
        assert cls.DESCRIPTOR.fields_by_name[name].has_presence, (cls, name)


def test_every_action_head_in_design_is_an_enum_value() -> None:
    names = {v.name for v in tpb.ActionHead.DESCRIPTOR.values}
    for head in ("op", "slot", "blueprint", "style", "tempo", "alpha_target", "alpha_speed",
                 "alpha_curve"):
        assert f"ACTION_HEAD_{head.upper()}" in names
    stages = {v.name for v in tpb.SeedStage.DESCRIPTOR.values}
    for s in ("DORMANT", "GERMINATED", "TRAINING", "BLENDING", "HOLDING", "FOSSILIZED",
              "PRUNED", "EMBARGOED", "RESETTING"):
        assert f"SEED_STAGE_{s}" in stages
