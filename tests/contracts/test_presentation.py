"""The presentation table is the one hand-kept list: it must cover every numeric field of
every telemetry payload the snapshot embeds, and name nothing that does not exist."""

from __future__ import annotations

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_common import presentation
from esper_common.presentation import PRESENTATION, Hidden, Show, numeric_fields

#: Embedded telemetry messages that are not metrics: the run's declared configuration,
#: drawn as a whole by the run header.
CONFIGURATION = {"esper.telemetry.v1.RunConfig", "esper.telemetry.v1.EntropyAnneal",
                 "esper.telemetry.v1.HeadSpec", "esper.telemetry.v1.Hyperparameter"}


def _embedded(desc: Descriptor, seen: set[str]) -> set[str]:
    """Full names of the esper.telemetry.v1 messages reachable from `desc`."""
    for field in desc.fields:
        sub = field.message_type
        if sub is None or sub.full_name in seen:
            continue
        if sub.GetOptions().map_entry:
            sub = sub.fields_by_name["value"].message_type
            if sub is None or sub.full_name in seen:
                continue
        if sub.full_name.startswith("esper.telemetry.v1."):
            seen.add(sub.full_name)
        if sub.full_name.startswith("esper."):
            _embedded(sub, seen)
    return seen


def test_every_payload_embedded_in_the_snapshot_has_a_presentation() -> None:
    embedded = _embedded(spb.SanctumSnapshot.DESCRIPTOR, set()) - CONFIGURATION
    presented = {m.DESCRIPTOR.full_name for m in PRESENTATION}
    assert embedded == presented, (
        f"embedded but without a presentation: {sorted(embedded - presented)}; "
        f"presented but not embedded: {sorted(presented - embedded)}")


def test_every_numeric_field_has_an_entry_and_every_entry_a_field() -> None:
    for message, entries in PRESENTATION.items():
        fields = set(numeric_fields(message))
        name = message.DESCRIPTOR.name
        assert not fields - set(entries), (
            f"{name}: numeric fields without a presentation entry (add Show or Hidden to "
            f"esper_common/presentation.py): {sorted(fields - set(entries))}")
        assert not set(entries) - fields, f"{name}: entries for no field: {set(entries) - fields}"


def test_entries_are_well_formed() -> None:
    for message, entries in PRESENTATION.items():
        for name, entry in entries.items():
            field = message.DESCRIPTOR.fields_by_name[name]
            assert isinstance(entry, Show | Hidden)
            if isinstance(entry, Hidden):
                assert entry.shown_by, f"{name}: say where it is shown, or why not"
                continue
            assert entry.label
            if entry.gauge:
                assert entry.lo is not None and entry.hi is not None and entry.lo < entry.hi
            if entry.plot or entry.gauge:
                assert not field.is_repeated, f"{name}: a series needs a scalar"
            if entry.sampled:
                assert field.has_presence, f"{name}: only optional fields are sampled"
            value = 3 if field.type in (FieldDescriptor.TYPE_UINT32,
                                        FieldDescriptor.TYPE_UINT64) else 0.25
            assert entry.text(value)  # the spec formats a value of the field's type


def test_numeric_fields_skip_enums_and_bools() -> None:
    assert "head" not in numeric_fields(tpb.HeadMetrics)
    assert numeric_fields(tpb.HeadMetrics) == ["entropy", "grad_norm"]


def test_series_names_follow_the_payload_field() -> None:
    assert presentation.metric(tpb.PPOUpdatePayload, "kl_divergence") == "ppo_update.kl_divergence"
    assert presentation.metric(tpb.EpochCompletedPayload, "reward") == "epoch_completed.reward"
    assert "kl_divergence" in presentation.plotted(tpb.PPOUpdatePayload)
    assert presentation.optional_fields(tpb.PPOUpdatePayload) == (
        "gradient_cv", "cuda_memory_allocated_gb", "cuda_memory_reserved_gb",
        "cuda_memory_peak_gb", "cuda_memory_fragmentation", "early_stop_epoch", "fps",
        "step_time_ms")


def test_unknown_values_read_as_a_dash() -> None:
    show = Show("update", ".0f", unit="ms")
    assert show.text(None) == "—"
    assert show.text(85.4) == "85 ms"
    assert show.text(float("nan")) == "NaN ms"
