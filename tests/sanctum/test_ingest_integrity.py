"""Regression tests for an outside attack on ingest: integer edges, caps, conflicts, fences.

Each test sends over a real channel to a real sanctum and checks what the issue found
broken: a refused batch changes nothing (the resend is applied, not a "duplicate"), every
integer that reaches the store is bounded at validation, caps refuse whole batches naming
the field, conflicting resends are counted, a producer id has one live stream.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.sanctum.v2 import sanctum_pb2_grpc
from esper.telemetry.v1 import telemetry_pb2 as tpb
from sanctum_svc import ingest as ingest_module
from sanctum_svc.config import Limits
from testkit import ThreadedSanctum, build_run_events, run_config, wait_for

INT63 = (1 << 63) - 1


def _vitals(run: str, producer: str, seq: int, **envelope: object) -> tpb.TelemetryEvent:
    return tpb.TelemetryEvent(run_id=run, producer_id=producer, seq=seq,
                              event_type=tpb.EVENT_TYPE_SYSTEM_VITALS,
                              system_vitals=tpb.SystemVitalsPayload(cpu_percent=1.0),
                              **envelope)  # type: ignore[arg-type]  # envelope fields by name


def _send(stub: sanctum_pb2_grpc.SanctumServiceStub, events: list[tpb.TelemetryEvent],
          drops: list[tpb.ProducerDrops] | None = None) -> spb.IngestResponse:
    req = spb.IngestRequest(batch=tpb.EventBatch(events=events, drops=drops or []))
    return stub.Ingest(iter([req]), timeout=30)


def _fields(err: grpc.RpcError) -> list[str]:
    status = rpc_status.from_call(err)
    assert status is not None, err.details()
    out = []
    for detail in status.details:
        bad = error_details_pb2.BadRequest()
        detail.Unpack(bad)
        out += [v.field for v in bad.field_violations]
    return out


def _refused(stub: sanctum_pb2_grpc.SanctumServiceStub, events: list[tpb.TelemetryEvent],
             drops: list[tpb.ProducerDrops] | None = None) -> list[str]:
    with pytest.raises(grpc.RpcError) as info:
        _send(stub, events, drops)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value.details()
    return _fields(info.value)


@pytest.fixture
def server() -> Iterator[ThreadedSanctum]:
    limits = Limits(max_runs=5, max_producers_per_run=4, max_groups_per_run=3, max_envs=8)
    with ThreadedSanctum(limits=limits) as s:
        yield s


@pytest.fixture
def stub(server: ThreadedSanctum) -> Iterator[sanctum_pb2_grpc.SanctumServiceStub]:
    with server.channel() as ch:
        yield server.stub(ch)


# ------------------------------------------------------------------ item 1: nothing moves


def test_drop_report_past_2_64_is_refused_and_the_resend_is_applied(
        server: ThreadedSanctum, stub: sanctum_pb2_grpc.SanctumServiceStub) -> None:
    _send(stub, [_vitals("r", "a", 1)], [tpb.ProducerDrops(run_id="r", producer_id="a",
                                                           dropped_total=1)])
    events = [_vitals("r", "b", 1), _vitals("r", "b", 2)]
    fields = _refused(stub, events, [tpb.ProducerDrops(run_id="r", producer_id="b",
                                                       dropped_total=(1 << 64) - 1)])
    assert fields == ["drops[0].dropped_total"]
    assert server.cursor("r", "b") == {"b": 0}
    reply = _send(stub, events)  # the resend is new, not a "duplicate"
    assert (reply.events_applied, reply.events_duplicate) == (2, 0)
    delivery = server.snapshot("r").delivery
    assert delivery.events_applied == 3 and delivery.producer_dropped == 1


def test_a_refused_plan_moves_no_cursor(server: ThreadedSanctum,
                                        stub: sanctum_pb2_grpc.SanctumServiceStub) -> None:
    _send(stub, [_vitals("r", "a", 1)])
    before = server.snapshot("r").delivery
    # Valid fields, but event 1 jumps too far: the whole batch is refused in planning.
    fields = _refused(stub, [_vitals("r", "a", 2), _vitals("r", "a", 2 + (1 << 40))])
    assert fields == ["events[1].seq"]
    assert server.cursor("r", "a") == {"a": 1}
    after = server.snapshot("r").delivery
    assert after.events_applied == before.events_applied
    assert after.producers[0].last_seq == 1 and after.gap_events == 0
    assert _send(stub, [_vitals("r", "a", 2)]).events_applied == 1


def test_counters_saturate_instead_of_failing() -> None:
    with ThreadedSanctum(limits=Limits(counter_max=10)) as s, s.channel() as ch:
        stub = s.stub(ch)
        assert _send(stub, [_vitals("r", "a", 50)]).events_applied == 1  # gap of 49
        assert _send(stub, [_vitals("r", "a", 99)]).events_applied == 1
        delivery = s.snapshot("r").delivery
        assert delivery.gap_events == 10 and delivery.producers[0].gap_events == 10
        assert s.cursor("r", "a") == {"a": 99}


# ------------------------------------------------------------------ item 2: integer ranges


@pytest.mark.parametrize("seq", [1 << 63, (1 << 64) - 1])
def test_seq_beyond_sqlite_integers_is_invalid_argument(
        server: ThreadedSanctum, stub: sanctum_pb2_grpc.SanctumServiceStub, seq: int) -> None:
    assert _refused(stub, [_vitals("r", "a", seq)]) == ["events[0].seq"]
    # Nothing is stuck: the next legitimate batch, from anyone, is stored.
    assert _send(stub, [_vitals("r", "b", 1)]).events_applied == 1


def test_largest_seq_is_stored_and_replayed(tmp_path) -> None:  # noqa: ANN001
    store = str(tmp_path / "s.sqlite")
    limits = Limits(max_seq_jump=INT63)
    with ThreadedSanctum(store=store, limits=limits) as s, s.channel() as ch:
        assert _send(s.stub(ch), [_vitals("r", "a", INT63)]).events_applied == 1
    with ThreadedSanctum(store=store, limits=limits) as s:
        assert s.cursor("r", "a") == {"a": INT63}


# ------------------------------------------------------------------ item 3: timestamps


@pytest.mark.parametrize("seconds,nanos,ok", [
    (-62135596800, 0, True),                # 0001-01-01T00:00:00Z
    (253402300799, 999_999_999, True),      # 9999-12-31T23:59:59.999999999Z
    (253402300800, 0, False), (-62135596801, 0, False),
    (0, -1, False), (0, 1_000_000_000, False), (1 << 62, 0, False)])
def test_timestamp_ranges(stub: sanctum_pb2_grpc.SanctumServiceStub, seconds: int,
                          nanos: int, ok: bool) -> None:
    from google.protobuf.timestamp_pb2 import Timestamp
    ev = _vitals("r", "a", 1, timestamp=Timestamp(seconds=seconds, nanos=nanos))
    if ok:
        assert _send(stub, [ev]).events_applied == 1
    else:
        assert _refused(stub, [ev]) == ["events[0].timestamp"]


# ------------------------------------------------------------------ items 4/5: caps


def test_producer_cap_refuses_the_whole_batch(
        server: ThreadedSanctum, stub: sanctum_pb2_grpc.SanctumServiceStub) -> None:
    _send(stub, [_vitals("r", f"p{k}", 1) for k in range(3)])
    fields = _refused(stub, [_vitals("r", "p0", 2), _vitals("r", "p3", 1),
                             _vitals("r", "p4", 1)])
    assert fields == ["events[2].producer_id"]
    delivery = server.snapshot("r").delivery
    assert len(delivery.producers) == 3 and delivery.events_applied == 3
    assert _send(stub, [_vitals("r", "p3", 1)]).events_applied == 1  # the 4th fits
    assert _refused(stub, [], [tpb.ProducerDrops(run_id="r", producer_id="p9",
                                                 dropped_total=1)]) == ["drops[0].producer_id"]


def test_run_cap(server: ThreadedSanctum, stub: sanctum_pb2_grpc.SanctumServiceStub) -> None:
    _send(stub, [_vitals(f"run{k}", "a", 1) for k in range(5)])
    assert _refused(stub, [_vitals("run0", "a", 2), _vitals("run5", "a", 1)]) == [
        "events[1].run_id"]
    assert server.cursor("run0", "a") == {"a": 1}


def test_group_cap(server: ThreadedSanctum, stub: sanctum_pb2_grpc.SanctumServiceStub) -> None:
    _send(stub, [_vitals("r", "a", k + 1, group_id=g) for k, g in enumerate("ABC")])
    assert _refused(stub, [_vitals("r", "a", 4, group_id="D")]) == ["events[0].group_id"]
    assert _send(stub, [_vitals("r", "a", 4, group_id="A")]).events_applied == 1


def test_env_cap_without_and_with_a_declaration(
        stub: sanctum_pb2_grpc.SanctumServiceStub) -> None:
    epoch = next(e for e in build_run_events("u", n_envs=1)
                 if e.event_type == tpb.EVENT_TYPE_EPOCH_COMPLETED)
    epoch.seq, epoch.env_id = 1, 8  # no TRAINING_STARTED for run u: the cap is 8 envs
    assert _refused(stub, [epoch]) == ["events[0].env_id"]
    epoch.env_id = 7
    assert _send(stub, [epoch]).events_applied == 1
    started = tpb.TelemetryEvent(
        run_id="d", producer_id="a", seq=1, event_type=tpb.EVENT_TYPE_TRAINING_STARTED,
        training_started=tpb.TrainingStartedPayload(config=run_config(n_envs=9)))
    assert _refused(stub, [started]) == ["events[0].training_started.config.n_envs"]


def test_unknown_fields_are_discarded_before_storing(tmp_path) -> None:  # noqa: ANN001
    store = str(tmp_path / "s.sqlite")
    ev = _vitals("r", "a", 1)
    # Field 99 of SystemVitalsPayload does not exist: a 100 kB blob hidden inside it.
    payload = ev.system_vitals.SerializeToString() + b"\x9a\x06" + _varint(100_000) + (
        b"x" * 100_000)
    ev.ClearField("system_vitals")
    raw_event = ev.SerializeToString() + b"\xa2\x02" + _varint(len(payload)) + payload
    raw_batch = b"\x0a" + _varint(len(raw_event)) + raw_event
    request = b"\x0a" + _varint(len(raw_batch)) + raw_batch
    with ThreadedSanctum(store=store) as s, s.channel() as ch:
        call = ch.stream_unary("/esper.sanctum.v2.SanctumService/Ingest",
                               request_serializer=None,
                               response_deserializer=spb.IngestResponse.FromString)
        assert call(iter([request]), timeout=10).events_applied == 1
        snap = s.snapshot("r")
        assert snap.vitals.cpu_percent == 1.0 and snap.ByteSize() < 10_000
    import sqlite3
    with sqlite3.connect(store) as db:
        (size,) = db.execute("SELECT length(batch) FROM batches").fetchone()
    assert size < 1000


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


# ------------------------------------------------------------------ item 9: conflicts


def test_a_resent_seq_with_other_content_is_a_conflict(
        server: ThreadedSanctum, stub: sanctum_pb2_grpc.SanctumServiceStub) -> None:
    _send(stub, [_vitals("r", "a", 1), _vitals("r", "a", 2)])
    same = _send(stub, [_vitals("r", "a", 2)])
    assert (same.events_duplicate, same.events_conflicting) == (1, 0)
    other = _vitals("r", "a", 2)
    other.system_vitals.cpu_percent = 99.0
    reply = _send(stub, [other])
    assert (reply.events_applied, reply.events_duplicate, reply.events_conflicting) == (0, 0, 1)
    delivery = server.snapshot("r").delivery
    assert delivery.events_conflicting == 1 and delivery.producers[0].events_conflicting == 1
    assert server.snapshot("r").vitals.cpu_percent == 1.0  # first write stays


def test_conflicts_are_still_detected_after_a_restart(tmp_path) -> None:  # noqa: ANN001
    store = str(tmp_path / "s.sqlite")
    with ThreadedSanctum(store=store) as s, s.channel() as ch:
        _send(s.stub(ch), [_vitals("r", "a", 1)])
    with ThreadedSanctum(store=store) as s, s.channel() as ch:
        other = _vitals("r", "a", 1)
        other.system_vitals.cpu_percent = 7.0
        assert _send(s.stub(ch), [other]).events_conflicting == 1


def test_a_second_live_stream_for_one_producer_is_refused(server: ThreadedSanctum) -> None:
    first_sent, release = threading.Event(), threading.Event()

    def slow() -> Iterator[spb.IngestRequest]:
        yield spb.IngestRequest(batch=tpb.EventBatch(events=[_vitals("r", "a", 1)]))
        first_sent.set()
        release.wait(10)
        yield spb.IngestRequest(batch=tpb.EventBatch(events=[_vitals("r", "a", 2)]))

    with server.channel() as ch1, server.channel() as ch2:
        future = server.stub(ch1).Ingest.future(slow(), timeout=30)
        assert first_sent.wait(10)
        wait_for(lambda: server.cursor("r", "a") == {"a": 1}, what="the first batch applied")
        with pytest.raises(grpc.RpcError) as info:
            _send(server.stub(ch2), [_vitals("r", "a", 3)])
        assert info.value.code() == grpc.StatusCode.ABORTED
        assert "already streaming" in (info.value.details() or "")
        release.set()
        assert future.result().events_applied == 2
        # Once the first stream ended, the producer id is free again.
        assert _send(server.stub(ch2), [_vitals("r", "a", 3)]).events_applied == 1


def test_a_silent_stream_loses_its_producer_to_a_new_one(
        server: ThreadedSanctum, monkeypatch: pytest.MonkeyPatch) -> None:
    """A connection cut without a FIN leaves the old stream open on the server; the
    producer's reconnect must not be refused until keepalive notices. The old stream, if it
    speaks again while the new one is open, is refused instead."""
    monkeypatch.setattr(ingest_module, "FENCE_IDLE_S", 0.3)

    def stream(seqs: list[int], sent: threading.Event, go: threading.Event
               ) -> Iterator[spb.IngestRequest]:
        yield spb.IngestRequest(batch=tpb.EventBatch(events=[_vitals("r", "a", seqs[0])]))
        sent.set()
        go.wait(10)
        yield spb.IngestRequest(batch=tpb.EventBatch(events=[_vitals("r", "a", seqs[1])]))

    def applied_through(seq: int) -> None:
        wait_for(lambda: server.cursor("r", "a") == {"a": seq}, what=f"seq {seq} applied")

    old_sent, old_go, new_sent, new_go = (threading.Event() for _ in range(4))
    with server.channel() as ch1, server.channel() as ch2:
        old = server.stub(ch1).Ingest.future(stream([1, 3], old_sent, old_go), timeout=30)
        assert old_sent.wait(10)
        applied_through(1)
        threading.Event().wait(0.5)  # the old stream is now silent for > FENCE_IDLE_S
        new = server.stub(ch2).Ingest.future(stream([2, 4], new_sent, new_go), timeout=30)
        assert new_sent.wait(10)
        applied_through(2)  # taken over, not refused
        old_go.set()  # the old stream speaks again while the new one writes the producer
        with pytest.raises(grpc.RpcError) as info:
            old.result()
        assert info.value.code() == grpc.StatusCode.ABORTED
        new_go.set()
        assert new.result().events_applied == 2
        assert server.cursor("r", "a") == {"a": 4}
        assert server.snapshot("r").delivery.events_applied == 3  # seq 3 never applied


def test_a_run_declaration_is_frozen(server: ThreadedSanctum,
                                     stub: sanctum_pb2_grpc.SanctumServiceStub) -> None:
    def started(seq: int, cfg: tpb.RunConfig, producer: str = "a") -> tpb.TelemetryEvent:
        return tpb.TelemetryEvent(
            run_id="f", producer_id=producer, seq=seq,
            event_type=tpb.EVENT_TYPE_TRAINING_STARTED,
            training_started=tpb.TrainingStartedPayload(config=cfg))

    _send(stub, [started(1, run_config(n_envs=2))])
    fields = _refused(stub, [started(2, run_config(n_envs=5))])
    assert fields == ["events[0].training_started.config"]
    assert server.snapshot("f").run.config.n_envs == 2
    resumed = run_config(n_envs=2)
    resumed.resume_path = "/ckpt/ep50.pt"
    assert _send(stub, [started(1, resumed, producer="b")]).events_applied == 1
    assert _send(stub, [started(2, run_config(n_envs=2))]).events_applied == 1


def test_a_refused_stream_waits_before_it_hears_why() -> None:
    """A client flooding refused batches one call after another is slowed down."""
    import time
    with ThreadedSanctum(refusal_delay_s=0.3) as s, s.channel() as ch:
        stub = s.stub(ch)
        t0 = time.monotonic()
        assert _refused(stub, [_vitals("r", "a", 0)]) == ["events[0].seq"]
        assert time.monotonic() - t0 >= 0.3
        t0 = time.monotonic()
        assert _send(stub, [_vitals("r", "a", 1)]).events_applied == 1  # accepted: no wait
