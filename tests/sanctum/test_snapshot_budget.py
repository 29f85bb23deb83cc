"""Whatever state a run holds, its snapshots and the run list fit what clients receive.

gRPC clients refuse messages over 4 MiB. The states here are put straight into a live
server's aggregator (as a store written by an older server could hold them, past any
validation), then read over real channels with the clients' default limit.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.telemetry.v1 import telemetry_pb2 as tpb
from sanctum_svc.aggregator import RunAggregator
from sanctum_svc.config import LIST_RUNS_DEFAULT_PAGE, LIST_RUNS_MAX_PAGE, SNAPSHOT_BUDGET_BYTES
from testkit import ThreadedSanctum
from tests.sanctum.watch import Watcher

CLIENT_LIMIT = 4 * 1024 * 1024


def card_event(run_id: str, seq: int, nbytes: int, group_id: str = "", env_id: int = 0
               ) -> tpb.TelemetryEvent:
    """A decision card of about `nbytes` (long head actions, within the per-string limit)."""
    card = tpb.DecisionCard(env_id=env_id, op=tpb.LIFECYCLE_OP_WAIT, epoch=seq)
    for _ in range(nbytes // 4000):
        card.heads.add(head=tpb.ACTION_HEAD_OP, action="a" * 3990, probability=0.5)
    return tpb.TelemetryEvent(run_id=run_id, producer_id="p", seq=seq, group_id=group_id,
                              env_id=env_id, event_type=tpb.EVENT_TYPE_ANALYTICS_SNAPSHOT,
                              analytics_snapshot=tpb.AnalyticsSnapshotPayload(decision=card))


def inject(server: ThreadedSanctum, run_id: str, events: Sequence[tpb.TelemetryEvent],
           delivery: spb.DeliveryStats | None = None) -> None:
    """Apply events to the server's aggregator directly (no validation), then wake watchers."""
    def apply() -> None:
        assert server.server is not None and server.server.fanout is not None
        run = server.server.aggregator.get_or_create(run_id)
        run.apply_many(events, time.time())
        if delivery is not None:
            run.delivery.CopyFrom(delivery)
        server.server.fanout.notify()
    server.in_loop(apply)


def get_snapshot(server: ThreadedSanctum, run_id: str = "") -> spb.SanctumSnapshot:
    with server.channel() as ch:  # max_receive_message_length: the clients' 4 MiB
        return server.stub(ch).GetSnapshot(spb.GetSnapshotRequest(run_id=run_id),
                                           timeout=60).snapshot


def test_each_decision_card_is_sent_once() -> None:
    """Two 1.5 MB cards of one group: 3 MB, not 6 MB (the latest one was also in the feed)."""
    with ThreadedSanctum(snapshot_budget=64 * 1024 * 1024) as server:
        inject(server, "cards", [card_event("cards", 1, 1_500_000),
                                 card_event("cards", 2, 1_500_000)])
        snap = get_snapshot(server, "cards")
    assert snap.ByteSize() < 3_200_000
    assert snap.tamiyo.groups[0].last_decision.epoch == 2
    assert [c.epoch for c in snap.decisions.recent] == [1]
    assert not snap.HasField("trimmed")


def giant_state(run_id: str) -> tuple[list[tpb.TelemetryEvent], spb.DeliveryStats]:
    """Two 3.9 MB cards, 3,000 groups, 20,000 envs with full histories, 200 log lines of
    4 KB and 20,000 producers: every section of a snapshot far over any budget."""
    events = [card_event(run_id, 1, 3_900_000), card_event(run_id, 2, 3_900_000)]
    for g in range(3000):
        events.append(tpb.TelemetryEvent(
            run_id=run_id, producer_id="p", group_id=f"group-{g}",
            event_type=tpb.EVENT_TYPE_PPO_UPDATE_COMPLETED,
            ppo_update=tpb.PPOUpdatePayload(policy_loss=0.1)))
    for env in range(20_000):
        for k in range(3):
            events.append(tpb.TelemetryEvent(
                run_id=run_id, producer_id="p", env_id=env, epoch=k,
                event_type=tpb.EVENT_TYPE_EPOCH_COMPLETED,
                epoch_completed=tpb.EpochCompletedPayload(val_accuracy=0.5, reward=0.1)))
    for k in range(200):
        events.append(tpb.TelemetryEvent(
            run_id=run_id, producer_id="p", event_type=tpb.EVENT_TYPE_CHECKPOINT_LOADED,
            checkpoint_loaded=tpb.CheckpointLoadedPayload(path="c" * 4000, episode=k)))
    delivery = spb.DeliveryStats(events_applied=len(events))
    for p in range(20_000):
        delivery.producers.add(producer_id=f"producer-{p:05d}-" + "x" * 200, last_seq=1)
    return events, delivery


@pytest.fixture(scope="module")
def giant() -> Iterator[ThreadedSanctum]:
    with ThreadedSanctum() as server:
        inject(server, "giant", *giant_state("giant"))
        yield server


@pytest.mark.parametrize("run_id", ["giant", ""])  # "" = the latest run
def test_giant_state_gets_a_trimmed_snapshot_not_an_error(giant: ThreadedSanctum,
                                                          run_id: str) -> None:
    snap = get_snapshot(giant, run_id)
    assert snap.run_id == "giant"
    assert snap.ByteSize() <= SNAPSHOT_BUDGET_BYTES
    trim = snap.trimmed
    assert trim.budget_bytes == SNAPSHOT_BUDGET_BYTES and trim.full_bytes > CLIENT_LIMIT
    left_out = {f.field: f.omitted for f in trim.fields}
    assert left_out["event_log.entries"] == 200 and left_out["decisions.recent"] == 1
    assert left_out["delivery.producers"] == 20_000
    assert left_out["histories.series"] > 0  # the envs' series go before the envs
    envs = snap.envs.envs
    assert len(envs) + left_out.get("envs.envs", 0) == 20_000
    assert snap.delivery.events_applied > 0  # counts stay


def test_giant_state_streams_to_watchers(giant: ThreadedSanctum) -> None:
    with Watcher(giant, "") as watcher:
        snap = watcher.wait_for(lambda s: s.run_id == "giant", timeout=30)
        assert watcher.error is None, watcher.error
    assert snap is not None and snap.HasField("trimmed")


def test_trim_order_and_record() -> None:
    run = RunAggregator("r", snapshot_budget=64 * 1024)
    events = [tpb.TelemetryEvent(
        run_id="r", producer_id="p", event_type=tpb.EVENT_TYPE_CHECKPOINT_LOADED,
        checkpoint_loaded=tpb.CheckpointLoadedPayload(path="c" * 1000, episode=k))
        for k in range(100)]
    events += [tpb.TelemetryEvent(
        run_id="r", producer_id="p", env_id=e, event_type=tpb.EVENT_TYPE_EPOCH_COMPLETED,
        epoch_completed=tpb.EpochCompletedPayload(val_accuracy=0.5)) for e in range(10)]
    run.apply_many(events, 1000.0)
    snap = run.snapshot(1001.0)
    assert snap.ByteSize() <= 64 * 1024
    # The old log lines go first (newest kept); envs were small enough to stay whole.
    [(field, omitted)] = [(f.field, f.omitted) for f in snap.trimmed.fields]
    assert field == "event_log.entries" and omitted == 100 - len(snap.event_log.entries)
    assert 30 < omitted < 50  # ~1 KB each: just what the 64 KiB budget needs
    assert snap.event_log.entries[-1].message.endswith("at episode 99")
    assert len(snap.envs.envs) == 10
    del events[:50]
    small = RunAggregator("r")
    small.apply_many(events, 1000.0)
    assert not small.snapshot(1001.0).HasField("trimmed")


def _bad_request_field(err: grpc.RpcError) -> str:
    status = rpc_status.from_call(err)
    assert status is not None
    bad = error_details_pb2.BadRequest()
    status.details[0].Unpack(bad)
    return bad.field_violations[0].field


def test_list_runs_pages_30000_runs() -> None:
    """30,000 runs with 200-character ids: one reply would be 7 MB; pages are bounded."""
    ids = [f"run-{i:05d}-" + "r" * 190 for i in range(30_000)]

    def create() -> None:
        assert server.server is not None
        agg = server.server.aggregator
        for i, run_id in enumerate(ids):
            agg.get_or_create(run_id).apply_many([], 1_700_000_000.0 + i)

    with ThreadedSanctum() as server:
        server.in_loop(create)
        with server.channel() as ch:
            stub = server.stub(ch)
            first = stub.ListRuns(spb.ListRunsRequest(), timeout=30)
            assert len(first.runs) == LIST_RUNS_DEFAULT_PAGE and first.total_size == 30_000
            assert first.runs[0].run_id == ids[-1]  # most recently active first
            seen: list[str] = []
            token = ""
            while True:
                page = stub.ListRuns(spb.ListRunsRequest(page_size=5000, page_token=token),
                                     timeout=30)
                assert len(page.runs) <= LIST_RUNS_MAX_PAGE
                assert page.ByteSize() <= SNAPSHOT_BUDGET_BYTES + 1024
                seen += [r.run_id for r in page.runs]
                token = page.next_page_token
                if not token:
                    break
            assert seen == ids[::-1]
            for request, field in ((spb.ListRunsRequest(page_token="!!"), "page_token"),
                                   (spb.ListRunsRequest(page_size=-1), "page_size")):
                with pytest.raises(grpc.RpcError) as err:
                    stub.ListRuns(request, timeout=10)
                assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
                assert _bad_request_field(err.value) == field
        # "Latest run" viewers still get the most recently active run.
        assert get_snapshot(server).run_id == ids[-1]


def test_list_runs_page_ends_at_the_byte_budget() -> None:
    with ThreadedSanctum(snapshot_budget=256 * 1024) as server:
        def create() -> None:
            assert server.server is not None
            for i in range(300):
                run = server.server.aggregator.get_or_create(f"{i:03d}-" + "x" * 4000)
                run.apply_many([], 1_700_000_000.0 + i)
        server.in_loop(create)
        with server.channel() as ch:
            page = server.stub(ch).ListRuns(spb.ListRunsRequest(page_size=300), timeout=30)
    assert 0 < len(page.runs) < 300 and page.next_page_token
    assert page.ByteSize() <= 256 * 1024 + 1024


def test_a_giant_env_goes_before_ordinary_ones() -> None:
    """One env holding 40 seeds with 4 KB strings (160 KB, over its 1/16 share of a 128 KiB
    budget) among 300 small ones: after the log lines it is the one left out, not the
    last envs."""
    run = RunAggregator("r", snapshot_budget=128 * 1024)
    events = [tpb.TelemetryEvent(
        run_id="r", producer_id="p", env_id=e, event_type=tpb.EVENT_TYPE_EPOCH_COMPLETED,
        epoch_completed=tpb.EpochCompletedPayload(val_accuracy=0.5, seeds=[
            tpb.SeedTelemetry(slot_id=f"s{k}", stage=tpb.SEED_STAGE_TRAINING,
                              blueprint_id="b" * 4000) for k in range(40 if e == 7 else 0)]))
        for e in range(301)]
    events += [tpb.TelemetryEvent(
        run_id="r", producer_id="p", event_type=tpb.EVENT_TYPE_CHECKPOINT_LOADED,
        checkpoint_loaded=tpb.CheckpointLoadedPayload(path="c" * 4000, episode=k))
        for k in range(20)]
    run.apply_many(events, 1000.0)
    snap = run.snapshot(1001.0)
    assert snap.ByteSize() <= 128 * 1024
    left_out = {f.field: f.omitted for f in snap.trimmed.fields}
    assert left_out == {"event_log.entries": 20, "envs.envs": 1}
    assert 7 not in {e.env_id for e in snap.envs.envs} and len(snap.envs.envs) == 300
