"""Generated edge cases against a live sanctum: every integer field of the telemetry contract
at its edges, timestamps at and past their limits, unknown fields, per-run cardinality floods.

The oracle for field rules is protovalidate (the reference implementation of the
buf.validate options in proto/), not sanctum's own checker; the run rules (env ids against
the declared n_envs) are added by hand. A case is refused with INVALID_ARGUMENT naming the
field exactly when the oracle says so; otherwise it is applied without a handler error and
the run's snapshot is still served. After each case the server takes a valid batch.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import protovalidate
import pytest
from google.protobuf.descriptor import FieldDescriptor as F
from google.protobuf.message import Message

from esper.telemetry.v1 import telemetry_pb2 as tpb
from sanctum_svc.config import Limits
from testkit import ThreadedSanctum, build_run_events
from tests.hostile.conftest import count_case
from tests.hostile.mutations import N_ENVS, RUN, TEMPLATES
from tests.hostile.test_batches import PRODUCER, Client, accept_valid_batch, copy, violations

pytestmark = pytest.mark.hostile

EDGES = (0, 1 << 31, 1 << 32, 1 << 53, (1 << 63) - 1, 1 << 63, (1 << 64) - 1)
_RANGE = {F.TYPE_UINT32: (0, (1 << 32) - 1), F.TYPE_UINT64: (0, (1 << 64) - 1),
          F.TYPE_INT64: (-(1 << 63), (1 << 63) - 1), F.TYPE_INT32: (-(1 << 31), (1 << 31) - 1)}
#: Fields checked against the run's declared shape (n_envs = N_ENVS).
_SHAPE = {".env_id", ".analytics_snapshot.decision.env_id"}


@pytest.fixture(scope="module")
def client(live: ThreadedSanctum) -> Iterator[Client]:
    c = Client(live)
    c.send(build_run_events(RUN, n_batches=1, n_envs=N_ENVS))
    yield c
    c.close()
    assert live.server is not None
    assert live.server.metrics.apply_errors._value.get() == 0, "a handler raised"


def _int_paths(msg: Message, prefix: str = "") -> Iterator[tuple[str, Message, str, int]]:
    """(path, owner message, field name, field type) of every singular integer field
    (enums excluded) in msg and its present sub-messages."""
    for f in msg.DESCRIPTOR.fields:
        path = f"{prefix}.{f.name}"
        if f.type == F.TYPE_MESSAGE and not f.is_repeated:
            if msg.HasField(f.name):
                yield from _int_paths(getattr(msg, f.name), path)
        elif f.type == F.TYPE_MESSAGE and f.is_repeated and len(getattr(msg, f.name)):
            yield from _int_paths(getattr(msg, f.name)[0], f"{path}[0]")
        elif f.type in _RANGE and not f.is_repeated:
            yield path, msg, f.name, f.type


#: The templates plus a TRAINING_STARTED (sent to a run of its own per case: a run's
#: declaration cannot change).
EVENTS = [*TEMPLATES, build_run_events("edge", n_envs=N_ENVS)[0]]


def _cases() -> Iterator[tuple[int, str]]:
    """(template index, integer field path) covering every integer field of every payload
    type present in the templates, plus the envelope."""
    seen: set[tuple[str | None, str]] = set()
    for k, ev in enumerate(EVENTS):
        name = ev.WhichOneof("payload")
        for path, _, _, _ in _int_paths(ev):
            key = (name if path.startswith(f".{name}") else None, path)
            if key not in seen:
                seen.add(key)
                yield k, path


CASES = sorted(set(_cases()))


def _set(ev: tpb.TelemetryEvent, path: str, value: int) -> bool:
    for p, owner, name, ftype in _int_paths(ev):
        if p == path:
            lo, hi = _RANGE[ftype]
            if not lo <= value <= hi:
                return False
            setattr(owner, name, value)
            return True
    raise AssertionError(path)


def test_every_integer_field_at_its_edges(client: Client) -> None:
    assert len(CASES) >= 25, CASES
    tried = 0
    for k, path in CASES:
        for value in EDGES:
            ev = copy(EVENTS[k])
            if not _set(ev, path, value):
                continue
            ev.run_id, ev.producer_id, ev.seq = RUN, PRODUCER, client.cursor() + 1
            if ev.HasField("training_started"):
                ev.run_id, ev.seq = f"edge-{tried}", 1
            if path == ".seq":
                ev.seq = value
            oracle = [f"events[0].{'.'.join(str(e.field_name) for e in v.proto.field.elements)}"
                      for v in protovalidate.collect_violations(tpb.EventBatch(events=[ev]))]
            refused = bool(oracle) or (path in _SHAPE and value >= N_ENVS) or (
                path == ".training_started.config.n_envs" and value > Limits().max_envs) or (
                path == ".seq" and value > client.cursor() + Limits().max_seq_jump)
            before = client.state()
            try:
                reply = client.send([ev])
            except grpc.RpcError as err:
                assert refused, (path, value, err.details())
                assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (path, value)
                named = {v.field for v in violations(err)}
                # named exactly, or the message it is part of (a Timestamp is one value)
                assert any(f"events[0]{path}".startswith(n) for n in named), (path, named)
                assert client.state() == before, (path, value)
            else:
                assert not refused, (path, value, oracle)
                assert reply.events_applied == 1, (path, value)
                client.snapshot()
            accept_valid_batch(client)
            count_case("integer field edges")
            tried += 1
    assert tried >= 150


@pytest.mark.parametrize("seconds,nanos,ok", [
    (-62135596800, 0, True), (253402300799, 999_999_999, True), (0, 0, True),
    (-62135596801, 999_999_999, False), (253402300800, 0, False),
    (-(1 << 63), 0, False), ((1 << 63) - 1, 0, False),
    (1, -1, False), (1, 1_000_000_000, False), (1, (1 << 31) - 1, False)])
def test_timestamps_at_and_past_their_limits(client: Client, seconds: int, nanos: int,
                                             ok: bool) -> None:
    count_case("timestamp limits")
    ev = copy(TEMPLATES[0])
    ev.run_id, ev.producer_id, ev.seq = RUN, PRODUCER, client.cursor() + 1
    ev.timestamp.seconds, ev.timestamp.nanos = seconds, nanos
    if ok:
        assert client.send([ev]).events_applied == 1
        client.snapshot()
    else:
        with pytest.raises(grpc.RpcError) as info:
            client.send([ev])
        assert {v.field for v in violations(info.value)} == {"events[0].timestamp"}
    accept_valid_batch(client)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n >> 7 else 0))
        n >>= 7
        if not n:
            return bytes(out)


@pytest.mark.parametrize("k", range(0, len(TEMPLATES), max(1, len(TEMPLATES) // 25)))
def test_unknown_fields_are_taken_and_dropped(client: Client, k: int) -> None:
    """An unknown 64 kB field in the envelope and another in the payload: accepted, and
    neither reaches the snapshot."""
    count_case("unknown fields")
    ev = copy(TEMPLATES[k])
    ev.run_id, ev.producer_id, ev.seq = RUN, PRODUCER, client.cursor() + 1
    blob = b"\xfa\x3e" + _varint(65_536) + b"u" * 65_536  # field 1999, wire type 2
    name = ev.WhichOneof("payload")
    assert name is not None
    payload = getattr(ev, name)
    payload.MergeFromString(blob)
    ev.MergeFromString(blob)
    size_before = client.snapshot().ByteSize()
    assert client.send([ev]).events_applied == 1
    assert client.snapshot().ByteSize() < size_before + 16_384
    accept_valid_batch(client)


@pytest.mark.parametrize("what", ["producers", "groups", "envs", "runs"])
def test_per_run_cardinality_floods_are_refused_whole(client: Client, what: str) -> None:
    count_case("cardinality floods")
    limits = Limits()
    base = copy(next(e for e in TEMPLATES if e.WhichOneof("payload") == "system_vitals"))
    before = client.state()
    events = []
    if what == "producers":
        for p in range(limits.max_producers_per_run + 1):
            ev = copy(base)
            ev.run_id, ev.producer_id, ev.seq = RUN, f"flood-{p}", 1
            events.append(ev)
        field = f"events[{limits.max_producers_per_run - 1}].producer_id"
    elif what == "groups":
        seq = client.cursor()
        for g in range(limits.max_groups_per_run + 1):
            ev = copy(base)
            seq += 1
            ev.run_id, ev.producer_id, ev.seq, ev.group_id = RUN, PRODUCER, seq, f"g{g}"
            events.append(ev)
        field = "events[0].group_id"
    elif what == "envs":
        epoch = copy(next(e for e in TEMPLATES if e.WhichOneof("payload") == "epoch_completed"))
        epoch.epoch_completed.ClearField("seeds")
        for env in range(limits.max_envs + 1):
            ev = copy(epoch)
            ev.run_id, ev.producer_id, ev.seq, ev.env_id = "undeclared-flood", "p", env + 1, env
            events.append(ev)
        field = f"events[{limits.max_envs}].env_id"
    else:
        for r in range(limits.max_runs + 1):
            ev = copy(base)
            ev.run_id, ev.producer_id, ev.seq = f"flood-run-{r}", "p", 1
            events.append(ev)
        field = "events[0].run_id"
    with pytest.raises(grpc.RpcError) as info:
        client.send(events)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    named = [v.field for v in violations(info.value)]
    assert any(n.endswith(field.split(".")[-1]) for n in named), (named, field)
    assert client.state() == before
    assert "undeclared-flood" not in [r.run_id for r in client.stub.ListRuns(
        __import__("esper.sanctum.v2.sanctum_pb2", fromlist=["x"]).ListRunsRequest()).runs]
    accept_valid_batch(client)
