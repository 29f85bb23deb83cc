"""Bad input gets INVALID_ARGUMENT with a BadRequest naming the field, and changes nothing."""

from __future__ import annotations

import math
from collections.abc import Callable

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.telemetry.v1 import telemetry_pb2 as tpb
from sanctum_svc import validate
from testkit import ThreadedSanctum, batches, comparable, run_config

Mutator = Callable[[list[tpb.TelemetryEvent]], None]


def _event(events: list[tpb.TelemetryEvent], event_type: int) -> tpb.TelemetryEvent:
    return next(e for e in events if e.event_type == event_type)


def _ppo(events):  # noqa: ANN001, ANN202
    return _event(events, tpb.EVENT_TYPE_PPO_UPDATE_COMPLETED)


def _epoch(events):  # noqa: ANN001, ANN202
    return _event(events, tpb.EVENT_TYPE_EPOCH_COMPLETED)


def _idx(events, ev) -> int:  # noqa: ANN001
    return next(i for i, e in enumerate(events) if e is ev)


# (name, mutate the tail batch, expected field (with {i} = index of the mutated event))
CASES: list[tuple[str, Callable[[list[tpb.TelemetryEvent]], tuple[int, str]]]] = []


def case(name: str):  # noqa: ANN201
    def deco(fn):  # noqa: ANN001, ANN202
        CASES.append((name, fn))
        return fn
    return deco


@case("empty payload")
def _empty_payload(evs):  # noqa: ANN001, ANN202
    ev = _ppo(evs)
    ev.ClearField("ppo_update")
    return _idx(evs, ev), "payload"


@case("unspecified type")
def _unspecified(evs):  # noqa: ANN001, ANN202
    ev = _ppo(evs)
    ev.event_type = tpb.EVENT_TYPE_UNSPECIFIED
    return _idx(evs, ev), "event_type"


@case("unknown type")
def _unknown(evs):  # noqa: ANN001, ANN202
    ev = _ppo(evs)
    ev.event_type = 999
    return _idx(evs, ev), "event_type"


@case("payload mismatching type")
def _mismatch(evs):  # noqa: ANN001, ANN202
    ev = _ppo(evs)
    ev.event_type = tpb.EVENT_TYPE_EPOCH_COMPLETED
    return _idx(evs, ev), "ppo_update"


@case("missing run_id")
def _no_run(evs):  # noqa: ANN001, ANN202
    evs[-1].run_id = ""
    return len(evs) - 1, "run_id"


@case("missing producer_id")
def _no_producer(evs):  # noqa: ANN001, ANN202
    evs[-1].producer_id = ""
    return len(evs) - 1, "producer_id"


@case("seq zero")
def _seq0(evs):  # noqa: ANN001, ANN202
    evs[-1].seq = 0
    return len(evs) - 1, "seq"


@case("NaN scalar")
def _nan(evs):  # noqa: ANN001, ANN202
    ev = _ppo(evs)
    ev.ppo_update.policy_loss = math.nan
    return _idx(evs, ev), "ppo_update.policy_loss"


@case("Inf optional")
def _inf_opt(evs):  # noqa: ANN001, ANN202
    ev = _ppo(evs)
    ev.ppo_update.gradient_cv = math.inf
    return _idx(evs, ev), "ppo_update.gradient_cv"


@case("NaN nested repeated message")
def _nan_head(evs):  # noqa: ANN001, ANN202
    ev = _ppo(evs)
    ev.ppo_update.heads[2].entropy = math.nan
    return _idx(evs, ev), "ppo_update.heads[2].entropy"


@case("-Inf repeated double")
def _inf_rep(evs):  # noqa: ANN001, ANN202
    ev = _event(evs, tpb.EVENT_TYPE_BATCH_EPOCH_COMPLETED)
    ev.batch_epoch_completed.env_rewards[1] = -math.inf
    return _idx(evs, ev), "batch_epoch_completed.env_rewards[1]"


@case("NaN in seed telemetry")
def _nan_seed(evs):  # noqa: ANN001, ANN202
    ev = _epoch(evs)
    ev.epoch_completed.seeds[0].alpha = math.nan
    return _idx(evs, ev), "epoch_completed.seeds[0].alpha"


@case("huge string")
def _huge_string(evs):  # noqa: ANN001, ANN202
    ev = _event(evs, tpb.EVENT_TYPE_ANALYTICS_SNAPSHOT)
    ev.analytics_snapshot.decision.heads[0].action = "x" * 5000
    return _idx(evs, ev), "analytics_snapshot.decision.heads[0].action"


@case("huge repeated")
def _huge_repeated(evs):  # noqa: ANN001, ANN202
    ev = _event(evs, tpb.EVENT_TYPE_BATCH_EPOCH_COMPLETED)
    ev.batch_epoch_completed.env_rewards.extend([0.0] * 5000)
    return _idx(evs, ev), "batch_epoch_completed.env_rewards"


@case("slot not declared")
def _bad_slot(evs):  # noqa: ANN001, ANN202
    ev = _event(evs, tpb.EVENT_TYPE_SEED_FOSSILIZED)
    ev.seed_fossilized.slot_id = "r9c9"
    return _idx(evs, ev), "seed_fossilized.slot_id"


@case("slot in epoch seeds not declared")
def _bad_epoch_slot(evs):  # noqa: ANN001, ANN202
    ev = _epoch(evs)
    ev.epoch_completed.seeds[0].slot_id = "r5c0"
    return _idx(evs, ev), "epoch_completed.seeds[0].slot_id"


@case("env id beyond n_envs")
def _bad_env(evs):  # noqa: ANN001, ANN202
    ev = _epoch(evs)
    ev.env_id = 2
    return _idx(evs, ev), "env_id"


@case("per-env event without env id")
def _no_env(evs):  # noqa: ANN001, ANN202
    ev = _epoch(evs)
    ev.ClearField("env_id")
    return _idx(evs, ev), "env_id"


def _setup(server: ThreadedSanctum, make_events) -> tuple[list, list]:  # noqa: ANN001
    events = make_events("v", n_batches=3)
    split = 1 + next(i for i, e in enumerate(events)
                     if e.event_type == tpb.EVENT_TYPE_SYSTEM_VITALS)
    head, tail = events[:split], events[split:]
    server.ingest(head)
    return head, tail


def _bad_request(err: grpc.RpcError) -> list[error_details_pb2.BadRequest.FieldViolation]:
    status = rpc_status.from_call(err)
    assert status is not None, "no google.rpc.Status in the trailers"
    out = []
    for detail in status.details:
        br = error_details_pb2.BadRequest()
        assert detail.Unpack(br)
        out.extend(br.field_violations)
    return out


@pytest.mark.hostile
@pytest.mark.parametrize("name,mutate", CASES, ids=[c[0] for c in CASES])
def test_bad_batch_rejected_whole(sanctum: ThreadedSanctum, make_events, name: str,
                                  mutate) -> None:  # noqa: ANN001
    _head, tail = _setup(sanctum, make_events)
    before = comparable(sanctum.snapshot("v"))
    bad = [tpb.TelemetryEvent() for _ in tail]
    for b, t in zip(bad, tail, strict=True):
        b.CopyFrom(t)
    index, field = mutate(bad)
    with pytest.raises(grpc.RpcError) as err:
        sanctum.ingest(bad, batch_size=len(bad))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    fields = [v.field for v in _bad_request(err.value)]
    assert f"events[{index}].{field}" in fields, fields
    after = comparable(sanctum.snapshot("v"))
    rejected = after.delivery.events_rejected
    after.delivery.events_rejected = 0
    after.delivery.events_received = before.delivery.events_received
    assert after == before, "a rejected batch changed state"
    # Rejected events count against the run they name (accounting only).
    assert rejected == sum(1 for e in bad if e.run_id == "v")
    # The service keeps working: the good batch goes in afterwards.
    reply = sanctum.ingest(tail, batch_size=len(tail))
    assert reply.events_applied == len(tail)


def test_reject_counted_and_earlier_batches_stay(sanctum: ThreadedSanctum, make_events) -> None:
    events = make_events("keep")
    bad = tpb.TelemetryEvent()
    bad.CopyFrom(events[20])
    bad.ppo_update.value_loss = math.nan if bad.HasField("ppo_update") else 0.0
    bad.event_type = 0
    with sanctum.channel() as ch, pytest.raises(grpc.RpcError) as err:
        sanctum.stub(ch).Ingest(iter([
            spb.IngestRequest(batch=tpb.EventBatch(events=events[:20])),
            spb.IngestRequest(batch=tpb.EventBatch(events=[bad] + events[21:])),
        ]))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "batch 1" in err.value.details()
    snap = sanctum.snapshot("keep")
    assert snap.delivery.events_applied == 20
    assert snap.delivery.events_rejected == len(events) - 20
    assert sanctum.cursor("keep") == {"trainer-0": 20}


def test_shape_declared_in_same_batch(sanctum: ThreadedSanctum, make_events) -> None:
    """TRAINING_STARTED in a batch declares the shape for the events after it."""
    events = make_events("same", n_envs=1)
    bad = [tpb.TelemetryEvent() for _ in events]
    for b, e in zip(bad, events, strict=True):
        b.CopyFrom(e)
    ep = _epoch(bad)
    ep.env_id = 1
    with pytest.raises(grpc.RpcError) as err:
        sanctum.ingest(bad, batch_size=len(bad))
    assert f"events[{_idx(bad, ep)}].env_id" in [v.field for v in _bad_request(err.value)]
    with sanctum.channel() as ch, pytest.raises(grpc.RpcError) as nf:
        sanctum.stub(ch).GetSnapshot(spb.GetSnapshotRequest(run_id="same"))
    assert nf.value.code() == grpc.StatusCode.NOT_FOUND


def test_too_many_events_in_batch(sanctum: ThreadedSanctum, make_events) -> None:
    ev = make_events("big", n_batches=1)[-1]
    with pytest.raises(grpc.RpcError) as err:
        sanctum.ingest([ev] * 10_001, batch_size=10_001)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in _bad_request(err.value)] == ["events"]


def test_over_size_limit_is_resource_exhausted(sanctum: ThreadedSanctum, make_events) -> None:
    events = make_events("huge", n_batches=1)
    big = tpb.TelemetryEvent()
    big.CopyFrom(events[-1])
    big.system_vitals.cpu_percent = 1.0
    padding = tpb.TelemetryEvent()
    padding.CopyFrom(big)
    request = spb.IngestRequest(batch=tpb.EventBatch(events=[padding] * 9000))
    for i, e in enumerate(request.batch.events):
        e.seq = 100 + i
        e.group_id = "g" * 400
    assert request.ByteSize() > 4 * 1024 * 1024
    with sanctum.channel() as ch, pytest.raises(grpc.RpcError) as err:
        sanctum.stub(ch).Ingest(iter([request]))
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    # Still serving afterwards.
    assert sanctum.ingest(events).events_applied == len(events)


def test_other_runs_unaffected_by_bad_batch(sanctum: ThreadedSanctum, make_events) -> None:
    sanctum.ingest(make_events("good"))
    good = comparable(sanctum.snapshot("good"))
    bad = make_events("evil")
    bad[3].seq = 0
    with pytest.raises(grpc.RpcError):
        sanctum.ingest(bad, batch_size=len(bad))
    assert comparable(sanctum.snapshot("good")) == good


# ---------------------------------------------------------------------- pure rules


def test_validate_ok_for_factory_events(make_events) -> None:
    batch = tpb.EventBatch(events=make_events())
    assert validate.validate_batch(batch, lambda run_id: None) == []


def test_validate_declared_shape_from_earlier_batch(make_events) -> None:
    events = make_events(n_envs=2)
    declared = run_config(n_envs=1)
    violations = validate.validate_batch(tpb.EventBatch(events=events[1:]), lambda r: declared)
    assert any(v.field.endswith(".env_id") for v in violations)


def test_finite_fast_path_overflow_is_not_an_error() -> None:
    ev = tpb.TelemetryEvent(run_id="r", producer_id="p", seq=1,
                            event_type=tpb.EVENT_TYPE_PPO_UPDATE_COMPLETED,
                            ppo_update=tpb.PPOUpdatePayload(policy_loss=1e308,
                                                             value_loss=1e308))
    assert validate.check_event(0, ev) == []


def test_drops_need_identity() -> None:
    batch = tpb.EventBatch(drops=[tpb.ProducerDrops(dropped_total=3)])
    fields = [v.field for v in validate.validate_batch(batch, lambda r: None)]
    assert fields == ["drops[0].run_id", "drops[0].producer_id"]


def test_batches_helper_puts_drops_on_last() -> None:
    reqs = list(batches([tpb.TelemetryEvent()] * 3, 2, [tpb.ProducerDrops(run_id="r")]))
    assert [len(r.batch.drops) for r in reqs] == [0, 1]


# ------------------------------------------------------- the fast path never says "valid" wrongly


def _fast(events: list[tpb.TelemetryEvent], declared=None, with_raw: bool = True) -> bool:  # noqa: ANN001
    batch = tpb.EventBatch(events=events)
    raw = batch.SerializeToString() if with_raw else None
    return validate.fast_ok(batch, declared or (lambda r: None), None, raw)


@pytest.mark.parametrize("with_raw", [True, False], ids=["raw", "reserialized"])
@pytest.mark.parametrize("name,mutate", CASES, ids=[c[0] for c in CASES])
def test_fast_path_defers_every_bad_case_to_the_rules(make_events, name: str, mutate,  # noqa: ANN001
                                                      with_raw: bool) -> None:
    events = make_events("v", n_batches=3)
    assert _fast(events, with_raw=with_raw), "valid batches take the fast path"
    bad = [tpb.TelemetryEvent() for _ in events]
    for b, e in zip(bad, events, strict=True):
        b.CopyFrom(e)
    mutate(bad)
    assert not _fast(bad, with_raw=with_raw)
    assert validate.validate_batch(tpb.EventBatch(events=bad), lambda r: None)


@pytest.mark.parametrize("name,mutate", CASES, ids=[c[0] for c in CASES])
def test_bulk_path_defers_every_bad_case_to_the_rules(make_events, name: str, mutate  # noqa: ANN001
                                                       ) -> None:
    """The same cases on a batch of a run declared earlier: no TRAINING_STARTED inside, so
    validate_bulk checks it a column at a time (not event by event)."""
    events = make_events("v", n_batches=3)
    cfg = events[0].training_started.config
    bad = [tpb.TelemetryEvent() for _ in events]
    for b, e in zip(bad, events, strict=True):
        b.CopyFrom(e)
    index, _field = mutate(bad)
    if index == 0:
        pytest.skip("the case breaks the declaration itself (the per-event path's job)")
    assert _fast(events[1:], lambda r: cfg), "valid batches take the fast path"
    assert not _fast(bad[1:], lambda r: cfg)
    assert validate.validate_batch(tpb.EventBatch(events=bad[1:]), lambda r: cfg)


def test_bulk_path_finds_one_bad_head_among_thousands() -> None:
    """The original's 12-env mix: one NaN in the last head of one card, one undeclared slot
    in one epoch's seeds, one env past n_envs: each alone turns the batch away."""
    from testkit.original_mix import original_mix

    events = original_mix("mix")
    cfg = events[0].training_started.config
    body = events[1:1025]
    assert _fast(body, lambda r: cfg)
    cards = [i for i, e in enumerate(body) if e.HasField("analytics_snapshot")]
    seeded = [i for i, e in enumerate(body) if e.HasField("epoch_completed")
              and e.epoch_completed.seeds]
    for mutate in (
            lambda b: setattr(b[cards[-1]].analytics_snapshot.decision.heads[7], "entropy",
                              math.nan),
            lambda b: setattr(b[seeded[3]].epoch_completed.seeds[0], "slot_id", "r9c9"),
            lambda b: setattr(b[cards[5]].analytics_snapshot.decision, "env_id", 12)):
        bad = [tpb.TelemetryEvent() for _ in body]
        for b, e in zip(bad, body, strict=True):
            b.CopyFrom(e)
        mutate(bad)
        assert not _fast(bad, lambda r: cfg)
        assert validate.validate_batch(tpb.EventBatch(events=bad), lambda r: cfg)


def test_fast_path_checks_shape_declared_earlier_and_in_batch(make_events) -> None:
    events = make_events(n_envs=2)
    assert _fast(events[1:], lambda r: run_config(n_envs=2))
    assert not _fast(events[1:], lambda r: run_config(n_envs=1))
    assert not _fast(events[1:], lambda r: run_config(slot_ids=["r7c7"]))
    # A TRAINING_STARTED in the batch declares the shape for the events after it...
    assert _fast(events)
    # ...but cannot change a shape declared before (a run's declaration is frozen).
    assert not _fast(events, lambda r: run_config(n_envs=1))
    fields = [v.field for v in validate.validate_batch(tpb.EventBatch(events=events),
                                                       lambda r: run_config(n_envs=1))]
    assert "events[0].training_started.config" in fields
    started = tpb.TelemetryEvent()
    started.CopyFrom(events[0])
    started.training_started.config.n_envs = 1
    assert not _fast([started, *events[1:]])


def test_fast_path_non_finite_anywhere_in_any_payload() -> None:
    """Every double of every payload type (nested, repeated, optional) set to NaN/±Inf in
    turn: the fast path must defer to the rules, which name exactly that field."""
    from google.protobuf.descriptor import FieldDescriptor as F

    def double_paths(desc, prefix=""):  # noqa: ANN001, ANN202
        for f in desc.fields:
            path = f"{prefix}.{f.name}"
            if f.type == F.TYPE_DOUBLE:
                yield path, f
            elif f.type == F.TYPE_MESSAGE and not f.message_type.GetOptions().map_entry:
                yield from double_paths(f.message_type, path + ("[0]" if f.is_repeated else ""))

    def set_path(msg, path: str, value: float) -> None:  # noqa: ANN001
        parts = path.strip(".").split(".")
        for part in parts[:-1]:
            if part.endswith("[0]"):
                rep = getattr(msg, part[:-3])
                msg = rep[0] if len(rep) else rep.add()
            else:
                msg = getattr(msg, part)
        last = parts[-1]
        if isinstance(getattr(msg, last), float):
            setattr(msg, last, value)
        else:
            getattr(msg, last).append(value)

    oneof = tpb.TelemetryEvent.DESCRIPTOR.oneofs_by_name["payload"]
    by_name = {name: t for t, name in validate.PAYLOAD_FOR_TYPE.items()}
    checked = 0
    for pf in oneof.fields:
        for path, _f in double_paths(pf.message_type):
            for value in (math.nan, math.inf, -math.inf):
                ev = tpb.TelemetryEvent(run_id="r", producer_id="p", seq=1, env_id=0,
                                        event_type=by_name[pf.name])
                getattr(ev, pf.name).SetInParent()
                set_path(ev, pf.name + path, value)
                assert not _fast([ev]), (pf.name, path, value)
                fields = [v.field for v in validate.validate_batch(
                    tpb.EventBatch(events=[ev]), lambda r: None)]
                assert any(f.startswith(f"events[0].{pf.name}") for f in fields), (path, fields)
                checked += 1
    assert checked > 150


def test_fast_path_sizes_from_received_bytes() -> None:
    ev = tpb.TelemetryEvent(run_id="r", producer_id="p", seq=1,
                            event_type=tpb.EVENT_TYPE_CHECKPOINT_LOADED,
                            checkpoint_loaded=tpb.CheckpointLoadedPayload(path="x" * 5000))
    small = tpb.TelemetryEvent()
    small.CopyFrom(ev)
    small.checkpoint_loaded.path = "ok"
    small.seq = 2
    assert _fast([small] * 3)
    assert not _fast([small, ev]) and not _fast([small, ev], with_raw=False)
    assert validate.validate_batch(tpb.EventBatch(events=[small, ev]), lambda r: None)
