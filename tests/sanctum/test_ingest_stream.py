"""IngestStream over a real channel: one ack per batch in order, a bounded window, refusals
that change nothing and keep earlier acknowledgements, the write permission."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.sanctum.v2 import sanctum_pb2_grpc
from esper.telemetry.v1 import telemetry_pb2 as tpb
from sanctum_svc.ingest_stream import STREAM_DEPTH
from testkit import ThreadedSanctum, wait_for
from testkit.held import HeldAcks


def _vitals(run: str, producer: str, seq: int, cpu: float = 1.0) -> tpb.TelemetryEvent:
    return tpb.TelemetryEvent(run_id=run, producer_id=producer, seq=seq,
                              event_type=tpb.EVENT_TYPE_SYSTEM_VITALS,
                              system_vitals=tpb.SystemVitalsPayload(cpu_percent=cpu))


def _batch(run: str, producer: str, first: int, n: int = 4) -> spb.IngestStreamRequest:
    return spb.IngestStreamRequest(batch=tpb.EventBatch(
        events=[_vitals(run, producer, s) for s in range(first, first + n)]))


class _Stream:
    """One IngestStream call fed from a queue (requests sent one by one, as a client does)."""

    def __init__(self, stub: sanctum_pb2_grpc.SanctumServiceStub, **kw: Any) -> None:
        self._out: queue.Queue[spb.IngestStreamRequest | None] = queue.Queue()
        self.acks = stub.IngestStream(iter(self._out.get, None), timeout=30, **kw)

    def send(self, req: spb.IngestStreamRequest) -> None:
        self._out.put(req)

    def close(self) -> None:
        self._out.put(None)


@pytest.fixture
def server() -> Iterator[ThreadedSanctum]:
    with ThreadedSanctum() as s:
        yield s


@pytest.fixture
def stub(server: ThreadedSanctum) -> Iterator[sanctum_pb2_grpc.SanctumServiceStub]:
    with server.channel() as ch:
        yield server.stub(ch)


def test_one_ack_per_batch_in_order_with_counts_and_cursor(
        server: ThreadedSanctum, stub: sanctum_pb2_grpc.SanctumServiceStub) -> None:
    stream = _Stream(stub)
    for i in range(5):
        stream.send(_batch("r", "p", 1 + 4 * i))
    first = [next(stream.acks) for _ in range(5)]
    assert [a.batch for a in first] == [0, 1, 2, 3, 4]
    assert all(a.events_received == 4 and a.events_applied == 4 for a in first)
    cursors = [a.cursors[0].last_seq for a in first]
    assert cursors == sorted(cursors) and all(c >= 4 * (i + 1) for i, c in enumerate(cursors))
    # Acknowledged means applied: the cursor says so before the stream ends.
    assert server.cursor("r", "p") == {"p": 20}
    stream.send(_batch("r", "p", 17))  # a resend: counted as duplicates, not applied twice
    ack = next(stream.acks)
    assert (ack.batch, ack.events_applied, ack.events_duplicate) == (5, 0, 4)
    stream.close()
    assert list(stream.acks) == []
    assert server.snapshot("r").delivery.producers[0].last_seq == 20


def test_the_server_holds_at_most_the_window_of_one_stream(
        server: ThreadedSanctum, stub: sanctum_pb2_grpc.SanctumServiceStub) -> None:
    """Writes are held back: the stream stops taking batches at STREAM_DEPTH unacked."""
    with HeldAcks(server) as held:
        stream = _Stream(stub)
        n = 3 * STREAM_DEPTH
        for i in range(n):
            stream.send(_batch("r", "p", 1 + 4 * i))
        wait_for(lambda: held.submitted >= STREAM_DEPTH, what="a full window")
        time.sleep(0.2)  # room for the server to take more than it may
        assert held.submitted == STREAM_DEPTH
        held.release()
        acks = [next(stream.acks).batch for _ in range(n)]
        stream.close()
    assert acks == list(range(n))
    assert server.cursor("r", "p") == {"p": 4 * n}


def test_a_refused_batch_ends_the_stream_after_earlier_acks_and_changes_nothing(
        server: ThreadedSanctum, stub: sanctum_pb2_grpc.SanctumServiceStub) -> None:
    stream = _Stream(stub)
    stream.send(_batch("r", "p", 1))
    stream.send(_batch("r", "p", 5))
    bad = _batch("r", "p", 9)
    bad.batch.events[2].run_id = ""  # invalid: the whole batch is refused
    stream.send(bad)
    stream.send(_batch("r", "p", 13))  # sent after the refused one: not applied either
    got = []
    with pytest.raises(grpc.RpcError) as info:
        for ack in stream.acks:
            got.append(ack.batch)
    assert got == [0, 1]
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "batch 2 of this stream rejected" in (info.value.details() or "")
    assert server.cursor("r", "p") == {"p": 8}
    # The refused batch, fixed and resent on a new stream, is applied (not a duplicate).
    again = _Stream(stub)
    again.send(_batch("r", "p", 9))
    ack = next(again.acks)
    again.close()
    assert (ack.events_applied, ack.events_duplicate) == (4, 0)
    assert server.cursor("r", "p") == {"p": 12}


def test_a_producer_has_one_live_stream(
        server: ThreadedSanctum, stub: sanctum_pb2_grpc.SanctumServiceStub) -> None:
    first = _Stream(stub)
    first.send(_batch("r", "p", 1))
    assert next(first.acks).batch == 0
    second = _Stream(stub)
    second.send(_batch("r", "p", 5))
    with pytest.raises(grpc.RpcError) as info:
        next(second.acks)
    assert info.value.code() == grpc.StatusCode.ABORTED
    first.send(_batch("r", "p", 5))
    assert next(first.acks).events_applied == 4
    first.close()
    assert server.cursor("r", "p") == {"p": 8}


def test_a_read_only_token_cannot_stream_events() -> None:
    with ThreadedSanctum(token="w" * 24, read_token="r" * 24) as s, \
            s.channel(token="r" * 24) as ch:
        stream = _Stream(s.stub(ch), metadata=(("authorization", "Bearer " + "r" * 24),))
        stream.send(_batch("r", "p", 1))
        with pytest.raises(grpc.RpcError) as info:
            next(stream.acks)
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_undecodable_bytes_end_the_stream_after_earlier_acks(
        server: ThreadedSanctum) -> None:
    with server.channel() as ch:
        call = ch.stream_stream("/esper.sanctum.v2.SanctumService/IngestStream",
                                request_serializer=None,
                                response_deserializer=spb.IngestStreamResponse.FromString)
        out: queue.Queue[bytes | None] = queue.Queue()
        acks = call(iter(out.get, None), timeout=30)
        out.put(_batch("r", "p", 1).SerializeToString())
        assert next(acks).batch == 0
        out.put(b"\x0a\xff\xff\xff\xff\x0f")  # a length prefix past the end: not a message
        with pytest.raises(grpc.RpcError) as info:
            next(acks)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "could not be parsed" in (info.value.details() or "")
    assert server.cursor("r", "p") == {"p": 4}


def test_stream_requests_are_ingest_requests_on_the_wire() -> None:
    """The server parses both with one parser (and the client encodes both alike)."""
    def fields(message: type) -> list[tuple[str, int, int, str]]:
        return [(f.name, f.number, f.type, f.message_type.full_name if f.message_type else "")
                for f in message.DESCRIPTOR.fields]

    assert fields(spb.IngestStreamRequest) == fields(spb.IngestRequest)
