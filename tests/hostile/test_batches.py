"""Generated hostile event batches against a live sanctum over real channels.

Properties: an invalid batch (alone or mixed with valid events) is refused whole with
INVALID_ARGUMENT and a google.rpc.BadRequest naming the mutated field (never a valid
event), and leaves snapshot and cursor exactly as they were; hostile-but-legal content
is accepted without a handler error; duplicates and gaps are accounted for exactly; after
every case the server is SERVING and takes a valid batch.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

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
from sanctum_svc.config import MAX_EVENTS_PER_BATCH, MAX_RECEIVE_BYTES, MAX_REPEATED
from testkit import ThreadedSanctum, build_run_events, comparable
from tests.hostile.conftest import count_case, examples
from tests.hostile.mutations import INVALIDATING, RUN, SEQ_ZERO, TEMPLATES, legal_oddity

pytestmark = pytest.mark.hostile

PRODUCER = "trainer-0"


class Client:
    """One channel to the live server and the calls the properties need."""

    def __init__(self, server: ThreadedSanctum) -> None:
        self.server = server
        self.channel = server.channel()
        self.stub = sanctum_pb2_grpc.SanctumServiceStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)

    def send(self, events: Sequence[tpb.TelemetryEvent], drops: Sequence[tpb.ProducerDrops] = ()
             ) -> spb.IngestResponse:
        req = spb.IngestRequest(batch=tpb.EventBatch(events=events, drops=drops))
        return self.stub.Ingest(iter([req]), timeout=30)

    def snapshot(self, run_id: str = RUN) -> spb.SanctumSnapshot:
        return self.stub.GetSnapshot(spb.GetSnapshotRequest(run_id=run_id), timeout=10).snapshot

    def cursor(self, producer: str = PRODUCER, run_id: str = RUN) -> int:
        reply = self.stub.GetResumeCursor(
            spb.GetResumeCursorRequest(run_id=run_id, producer_id=producer), timeout=10)
        return reply.cursors[0].last_seq

    def state(self) -> tuple[spb.SanctumSnapshot, int]:
        """Aggregated state and cursor of RUN (see `accepted_state`)."""
        return accepted_state(self.snapshot()), self.cursor()

    def serving(self) -> bool:
        reply = self.health.Check(health_pb2.HealthCheckRequest(), timeout=5)
        return reply.status == health_pb2.HealthCheckResponse.SERVING

    def close(self) -> None:
        self.channel.close()


@pytest.fixture(scope="module")
def client(live: ThreadedSanctum) -> Iterator[Client]:
    """A client of the module's live server, on which RUN was declared (2 envs, 3 slots)."""
    c = Client(live)
    c.send(build_run_events(RUN, n_batches=1, n_envs=2))
    yield c
    c.close()
    assert live.server is not None
    assert live.server.metrics.apply_errors._value.get() == 0, "a handler raised"


def accepted_state(snapshot: spb.SanctumSnapshot) -> spb.SanctumSnapshot:
    """The snapshot without time and without what a rejection legitimately changes: the
    run's received/rejected counters."""
    snap = comparable(snapshot)
    snap.delivery.ClearField("events_received")
    snap.delivery.ClearField("events_rejected")
    return snap


def copy(ev: tpb.TelemetryEvent) -> tpb.TelemetryEvent:
    out = tpb.TelemetryEvent()
    out.CopyFrom(ev)
    return out


def numbered(events: list[tpb.TelemetryEvent], first_seq: int) -> list[tpb.TelemetryEvent]:
    for k, ev in enumerate(events):
        ev.run_id, ev.producer_id, ev.seq = RUN, PRODUCER, first_seq + k
    return events


def violations(err: grpc.RpcError) -> list[error_details_pb2.BadRequest.FieldViolation]:
    """The BadRequest field violations carried by a failed call (asserting they exist)."""
    status = rpc_status.from_call(err)
    assert status is not None, f"no rich status on {err.code()}: {err.details()}"
    out = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            out.extend(bad.field_violations)
    assert out, f"INVALID_ARGUMENT without a BadRequest detail: {err.details()}"
    return out


def accept_valid_batch(client: Client) -> None:
    """The liveness property every case ends with: SERVING, and a valid batch is taken."""
    assert client.serving()
    seq = client.cursor() + 1
    events = numbered([copy(TEMPLATES[k]) for k in (0, 1)], seq)
    assert client.send(events).events_applied == 2


_INDEX = re.compile(r"^events\[(\d+)\]")


@given(data=st.data())
@examples(900)
def test_invalid_batch_is_refused_whole_with_field_detail(client: Client, data) -> None:  # noqa: ANN001
    count_case("invalid / mixed batches")
    draw = data.draw
    n = draw(st.integers(1, 6), label="events")
    picks = draw(st.lists(st.integers(0, len(TEMPLATES) - 1), min_size=n, max_size=n))
    events = [copy(TEMPLATES[k]) for k in picks]
    bad_at = draw(st.sets(st.integers(0, n - 1), min_size=1, max_size=min(3, n)), label="bad")
    kinds = sorted(INVALIDATING) + [SEQ_ZERO]
    before = client.state()
    events = numbered(events, before[1] + 1)
    expected: dict[int, str] = {}
    for i in sorted(bad_at):
        kind = draw(st.sampled_from(kinds), label=f"mutation[{i}]")
        if kind == SEQ_ZERO:
            events[i].seq = 0
            expected[i] = f"events[{i}].seq"
            continue
        field = INVALIDATING[kind](events[i], draw)
        if field is None:  # not applicable to this event type: fall back to seq 0
            events[i].seq = 0
            field = "events[{i}].seq"
        expected[i] = field.format(i=i)

    with pytest.raises(grpc.RpcError) as err:
        client.send(events)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
    found = violations(err.value)
    blamed = {int(m.group(1)) for v in found if (m := _INDEX.match(v.field))}
    assert blamed <= set(expected), f"a valid event was blamed: {found}"
    fields = [v.field for v in found]
    assert any(f == want or f.startswith(want + "[") or f.startswith(want + ".")
               for want in expected.values() for f in fields), (expected, fields)
    assert all(v.description for v in found)
    assert client.state() == before, "a refused batch changed state"
    accept_valid_batch(client)


@given(data=st.data())
@examples(400)
def test_hostile_but_legal_content_is_accepted(client: Client, data) -> None:  # noqa: ANN001
    count_case("hostile-but-legal batches")
    draw = data.draw
    picks = draw(st.lists(st.integers(0, len(TEMPLATES) - 1), min_size=1, max_size=5))
    events = numbered([copy(TEMPLATES[k]) for k in picks], client.cursor() + 1)
    for ev in events:
        legal_oddity(ev, draw)
    applied_before = client.snapshot().delivery.events_applied
    reply = client.send(events)
    assert reply.events_applied == len(events)
    snap = client.snapshot()
    assert snap.delivery.events_applied == applied_before + len(events)
    assert snap.ByteSize() > 0  # the snapshot still builds and serializes
    assert client.server.server is not None
    assert client.server.server.metrics.apply_errors._value.get() == 0
    accept_valid_batch(client)


@given(offsets=st.lists(st.integers(-6, 6), min_size=1, max_size=12))
@examples(300)
def test_duplicates_and_gaps_are_accounted_exactly(client: Client, offsets: list[int]) -> None:
    """seq going backwards, repeating or jumping: each seq applies at most once, in order."""
    count_case("seq backwards / duplicate / gap batches")
    producer = "seq-prop"
    last = client.cursor(producer)
    before = client.snapshot().delivery
    seqs, base = [], last
    for off in offsets:
        base = max(1, base + off)
        seqs.append(base)
    events = [copy(TEMPLATES[-1]) for _ in seqs]  # TRAINING_COMPLETED: run-level, no shape
    for ev, seq in zip(events, seqs, strict=True):
        ev.run_id, ev.producer_id, ev.seq = RUN, producer, seq
    applied = duplicate = gaps = 0
    running = last
    for seq in seqs:
        if seq <= running:
            duplicate += 1
        else:
            applied += 1
            gaps += seq - running - 1
            running = seq
    reply = client.send(events)
    assert (reply.events_applied, reply.events_duplicate) == (applied, duplicate)
    after = client.snapshot().delivery
    assert after.events_applied - before.events_applied == applied
    assert after.events_duplicate - before.events_duplicate == duplicate
    assert after.gap_events - before.gap_events == gaps
    assert client.cursor(producer) == running


def test_too_many_events_and_drops_name_their_field(client: Client) -> None:
    before = client.state()
    seq = before[1] + 1
    many = numbered([copy(TEMPLATES[-1]) for _ in range(MAX_EVENTS_PER_BATCH + 1)], seq)
    with pytest.raises(grpc.RpcError) as err:
        client.send(many)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in violations(err.value)] == ["events"]
    drops = [tpb.ProducerDrops(run_id=RUN, producer_id=f"p{k}", dropped_total=1)
             for k in range(MAX_REPEATED + 1)]
    with pytest.raises(grpc.RpcError) as err:
        client.send(numbered([copy(TEMPLATES[0])], seq), drops)
    assert [v.field for v in violations(err.value)] == ["drops"]
    with pytest.raises(grpc.RpcError) as err:
        client.send(numbered([copy(TEMPLATES[0])], seq),
                    [tpb.ProducerDrops(run_id=RUN, dropped_total=5)])
    assert [v.field for v in violations(err.value)] == ["drops[0].producer_id"]
    assert client.state() == before
    accept_valid_batch(client)


def test_message_over_the_receive_limit_is_resource_exhausted(client: Client) -> None:
    before = client.state()
    ev = numbered([copy(TEMPLATES[-1])], before[1] + 1)[0]
    ev.training_completed.status = "x" * 4000  # each event well under the string limit
    n = MAX_RECEIVE_BYTES // ev.ByteSize() + 10
    events = numbered([copy(ev) for _ in range(n)], before[1] + 1)
    with pytest.raises(grpc.RpcError) as err:
        client.send(events)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "larger than max" in err.value.details()
    assert client.state() == before
    accept_valid_batch(client)


def test_bad_batch_for_one_run_leaves_other_runs_alone(client: Client) -> None:
    """Rejection is per batch: another run streaming at the same time is untouched."""
    other = build_run_events("bystander", producer_id="b", n_batches=1)
    assert client.send(other).events_applied == len(other)
    bystander = accepted_state(client.snapshot("bystander"))
    bad = numbered([copy(TEMPLATES[0])], client.cursor() + 1)
    bad[0].ClearField(bad[0].WhichOneof("payload"))
    more = build_run_events("bystander", producer_id="b", n_batches=2)[len(other):]
    with pytest.raises(grpc.RpcError):
        client.send([*more, *bad])
    after = client.snapshot("bystander")
    assert accepted_state(after) == bystander
    assert after.delivery.events_rejected == len(more)  # its events in the refused batch


def test_many_violations_echoing_huge_input_still_carry_the_detail(client: Client) -> None:
    """Descriptions echo client input; the detail must still fit gRPC's 8 KiB trailer limit
    (else the client sees RESOURCE_EXHAUSTED 'metadata size exceeds soft limit')."""
    before = client.state()
    events = numbered([copy(TEMPLATES[0]) for _ in range(40)], before[1] + 1)
    for ev in events:  # SEED_GERMINATED: a 4 KB slot id that is not declared
        ev.seed_germinated.slot_id = "🦀" * 1000
    with pytest.raises(grpc.RpcError) as err:
        client.send(events)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
    found = violations(err.value)
    assert found[0].field == "events[0].seed_germinated.slot_id"
    assert "more violations not listed" in err.value.details() or len(found) >= 20
    assert client.state() == before
    accept_valid_batch(client)
