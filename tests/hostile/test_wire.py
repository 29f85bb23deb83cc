"""Garbage on the wire: random and mutated bytes through a raw channel (no serializers) to
every SanctumService method, and junk on the TCP socket itself.

Properties: bytes that do not parse get INVALID_ARGUMENT with a BadRequest naming
`request`; bytes that happen to parse are treated like any request (accepted, NOT_FOUND,
or INVALID_ARGUMENT with a field); a refused Ingest changes nothing; the server never
crashes, stays SERVING and takes a valid batch afterwards.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from hypothesis import given
from hypothesis import strategies as st

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.sanctum.v2 import sanctum_pb2_grpc
from esper.telemetry.v1 import telemetry_pb2 as tpb
from testkit import ThreadedSanctum, build_run_events, comparable
from tests.hostile.conftest import count_case, examples

pytestmark = pytest.mark.hostile

SERVICE = "/esper.sanctum.v2.SanctumService/"
RUN = "wire"
EVENTS = build_run_events(RUN, n_batches=3)
BASE = 10  # events of RUN ingested before the properties run
#: A valid serialized IngestRequest (the next events of RUN) to mutate.
VALID = spb.IngestRequest(batch=tpb.EventBatch(events=EVENTS[BASE:BASE + 6])).SerializeToString()


class Raw:
    """A channel used without serializers: requests and responses are bytes."""

    def __init__(self, server: ThreadedSanctum) -> None:
        self.server = server
        self.channel = grpc.insecure_channel(server.address)
        self.stub = sanctum_pb2_grpc.SanctumServiceStub(self.channel)

    def call(self, method: str, payloads: list[bytes]
             ) -> tuple[grpc.StatusCode, grpc.RpcError | None]:
        path = SERVICE + method
        try:
            if method == "Ingest":
                self.channel.stream_unary(path)(iter(payloads), timeout=10)
            elif method == "WatchSnapshots":
                call = self.channel.unary_stream(path)(payloads[0], timeout=10)
                next(call)  # a parsed request gets its first message at once
                call.cancel()
            else:
                self.channel.unary_unary(path)(payloads[0], timeout=10)
        except grpc.RpcError as err:
            return err.code(), err
        return grpc.StatusCode.OK, None

    def state(self) -> tuple[spb.SanctumSnapshot, int]:
        snap = comparable(self.stub.GetSnapshot(spb.GetSnapshotRequest(run_id=RUN),
                                                timeout=10).snapshot)
        snap.delivery.ClearField("events_received")
        snap.delivery.ClearField("events_rejected")
        cursor = self.stub.GetResumeCursor(spb.GetResumeCursorRequest(
            run_id=RUN, producer_id="trainer-0"), timeout=10).cursors[0].last_seq
        return snap, cursor

    def serving(self) -> bool:
        reply = health_pb2_grpc.HealthStub(self.channel).Check(health_pb2.HealthCheckRequest(),
                                                              timeout=5)
        return reply.status == health_pb2.HealthCheckResponse.SERVING


@pytest.fixture(scope="module")
def raw(live: ThreadedSanctum) -> Iterator[Raw]:
    live.ingest(EVENTS[:BASE])
    r = Raw(live)
    yield r
    # Whatever was thrown at it, the server still takes the rest of the run.
    cursor = r.state()[1]  # a mutated seq that was accepted may have moved it anywhere
    reply = live.ingest(EVENTS[cursor:])
    assert reply.events_applied == max(0, len(EVENTS) - cursor)
    r.channel.close()
    assert live.server is not None
    assert live.server.metrics.apply_errors._value.get() == 0


def field_violations(err: grpc.RpcError) -> list[str]:
    status = rpc_status.from_call(err)
    assert status is not None, f"{err.code()} without a rich status: {err.details()}"
    fields = []
    for detail in status.details:
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            fields += [v.field for v in bad.field_violations]
    return fields


def check_outcome(raw: Raw, method: str, payloads: list[bytes]) -> None:
    before = raw.state()
    code, err = raw.call(method, payloads)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        assert err is not None
        fields = field_violations(err)
        assert fields, f"INVALID_ARGUMENT without a field: {err.details()}"
        assert "Traceback" not in err.details() and "<class" not in err.details()
    elif method == "GetSnapshot":
        assert code in (grpc.StatusCode.OK, grpc.StatusCode.NOT_FOUND), code
    else:
        assert code == grpc.StatusCode.OK, (code, err and err.details())
    if code != grpc.StatusCode.OK and method == "Ingest":
        assert raw.state() == before, "a refused stream changed state"
    assert raw.serving()


METHODS = ["Ingest", "GetResumeCursor", "WatchSnapshots", "GetSnapshot", "ListRuns"]


@given(method=st.sampled_from(METHODS),
       payloads=st.lists(st.binary(max_size=300), min_size=1, max_size=3))
@examples(400)
def test_random_bytes_get_a_clear_status(raw: Raw, method: str, payloads: list[bytes]) -> None:
    count_case("random request bytes")
    check_outcome(raw, method, payloads)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(VALID)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "splice"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 8))]
        elif kind == "truncate":
            del data[at:]
        else:  # a valid prefix followed by random bytes
            data[at:] = draw(st.binary(max_size=32))
    return bytes(data)


@given(payload=mutated())
@examples(500)
def test_mutated_ingest_bytes_refused_cleanly_or_taken(raw: Raw, payload: bytes) -> None:
    count_case("mutated IngestRequest bytes")
    check_outcome(raw, "Ingest", [payload])


def test_garbage_after_valid_batches_keeps_the_valid_ones(raw: Raw) -> None:
    """Batches before an undecodable message stay applied; the stream ends INVALID_ARGUMENT."""
    _, cursor = raw.state()
    good = spb.IngestRequest(batch=tpb.EventBatch(events=EVENTS[cursor:cursor + 3]))
    code, err = raw.call("Ingest", [good.SerializeToString(), b"\xff\xff\xff"])
    assert code == grpc.StatusCode.INVALID_ARGUMENT and err is not None
    assert field_violations(err) == ["request"]
    assert "esper.sanctum.v2.IngestRequest" in err.details()
    assert raw.state()[1] == cursor + 3


@pytest.mark.parametrize("junk", [b"\xff\xff\xff\xff", b"\x0a\x05\x0a"],
                         ids=["bad-tag", "truncated"])
@pytest.mark.parametrize("method", METHODS)
def test_undecodable_request_names_the_request(raw: Raw, method: str, junk: bytes) -> None:
    code, err = raw.call(method, [junk])
    assert code == grpc.StatusCode.INVALID_ARGUMENT and err is not None
    assert field_violations(err) == ["request"]


@pytest.mark.parametrize("request_,field", [
    (spb.GetResumeCursorRequest(), "run_id"),
    (spb.WatchSnapshotsRequest(run_id=RUN, max_hz=float("nan")), "max_hz"),
    (spb.WatchSnapshotsRequest(run_id=RUN, max_hz=-1.0), "max_hz"),
])
def test_invalid_query_fields_are_named(raw: Raw, request_, field: str) -> None:  # noqa: ANN001
    method = type(request_).__name__.removesuffix("Request")
    code, err = raw.call(method, [request_.SerializeToString()])
    assert code == grpc.StatusCode.INVALID_ARGUMENT and err is not None
    assert field_violations(err) == [field]


def test_unknown_methods_and_foreign_services_do_not_hurt(raw: Raw) -> None:
    for path in (SERVICE + "Nope", "/esper.sanctum.v3.SanctumService/Ingest", "/x/y"):
        with pytest.raises(grpc.RpcError) as err:
            raw.channel.unary_unary(path)(b"", timeout=5)
        assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
    # gRPC's own health and reflection services with garbage: refused, server unharmed.
    for path in ("/grpc.health.v1.Health/Check",):
        with pytest.raises(grpc.RpcError):
            raw.channel.unary_unary(path)(b"\xff\xff\xff", timeout=5)
    assert raw.serving()


def _tcp(address: str) -> socket.socket:
    host, port = address.rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=5)


def _drain(sock: socket.socket) -> None:
    """Read until the server closes or goes quiet (it must never hang up the process)."""
    sock.settimeout(0.3)
    try:
        while sock.recv(4096):
            pass
    except (TimeoutError, ConnectionError, OSError):
        pass


PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


@given(junk=st.binary(min_size=1, max_size=512), preface=st.booleans())
@examples(40)
def test_junk_on_the_socket(raw: Raw, junk: bytes, preface: bool) -> None:
    """Not even HTTP/2: raw bytes (with or without the HTTP/2 preface) on the TCP port."""
    count_case("raw TCP junk")
    with _tcp(raw.server.address) as sock:
        sock.sendall((PREFACE if preface else b"") + junk)
        _drain(sock)
    assert raw.serving()


def test_half_open_and_abandoned_connections(raw: Raw) -> None:
    """Connections that say nothing, or stop mid-frame, then vanish."""
    socks = [_tcp(raw.server.address) for _ in range(20)]
    socks[0].sendall(PREFACE + b"\x00\x00\x12\x04")  # a SETTINGS frame header, no body
    for s in socks:
        s.close()
    assert raw.serving()
    assert raw.state()[1] >= BASE


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _request_with(event_bytes: bytes) -> bytes:
    """IngestRequest{batch: EventBatch{events: [event]}} encoded by hand."""
    batch = b"\x0a" + _varint(len(event_bytes)) + event_bytes
    return b"\x0a" + _varint(len(batch)) + batch


NEGATIVE_ONE = b"\xff" * 9 + b"\x01"  # -1 as a 64-bit varint (what a signed writer sends)


def test_negative_counts_on_the_wire(raw: Raw) -> None:
    """Counts are unsigned in the contract; a producer writing -1 sends 2**64-1, which the
    parser truncates to the field's width. An env id of 2**32-1 is refused by name; a
    parameter count of 2**64-1 is within the contract and taken without a handler error."""
    before = raw.state()
    germinated = next(e for e in EVENTS if e.HasField("seed_germinated"))
    ev = tpb.TelemetryEvent()
    ev.CopyFrom(germinated)
    ev.seq = before[1] + 1
    env_field = b"\x38"  # field 7 (env_id), varint
    code, err = raw.call("Ingest", [_request_with(ev.SerializeToString() + env_field
                                                  + NEGATIVE_ONE)])
    assert code == grpc.StatusCode.INVALID_ARGUMENT and err is not None
    assert field_violations(err) == ["events[0].env_id"]
    assert raw.state() == before

    params_field = b"\x20"  # SeedGerminatedPayload.params (field 4), varint
    payload = ev.seed_germinated.SerializeToString() + params_field + NEGATIVE_ONE
    ev.ClearField("seed_germinated")
    event_bytes = ev.SerializeToString() + b"\xc2\x01" + _varint(len(payload)) + payload
    assert tpb.TelemetryEvent.FromString(event_bytes).seed_germinated.params == 2**64 - 1
    code, err = raw.call("Ingest", [_request_with(event_bytes)])
    assert code == grpc.StatusCode.OK, err and err.details()
    assert raw.state()[1] == before[1] + 1


@given(run_id=st.text(max_size=300), max_hz=st.floats())
@examples(150)
def test_generated_watch_requests(raw: Raw, run_id: str, max_hz: float) -> None:
    """Any run id (unknown, empty, huge, odd unicode) and any rate (NaN, ±inf, negative,
    subnormal): the stream opens with a first message, or max_hz is refused by name."""
    count_case("generated WatchSnapshots requests")
    request = spb.WatchSnapshotsRequest(run_id=run_id, max_hz=max_hz)
    code, err = raw.call("WatchSnapshots", [request.SerializeToString()])
    if max_hz != max_hz or max_hz < 0:  # NaN or negative
        assert code == grpc.StatusCode.INVALID_ARGUMENT and err is not None
        assert field_violations(err) == ["max_hz"]
    else:
        assert code == grpc.StatusCode.OK, err and err.details()
    assert raw.serving()
