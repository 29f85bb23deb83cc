"""Every SanctumService RPC against a real server on loopback, over real channels."""

from __future__ import annotations

import time

import grpc
import pytest

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.telemetry.v1 import telemetry_pb2 as tpb
from testkit import ThreadedSanctum, batches
from tests.sanctum.watch import Watcher


def test_ingest_reports_counts_and_cursor(shared_sanctum: ThreadedSanctum, make_events) -> None:
    events = make_events("run-a")
    reply = shared_sanctum.ingest(events, batch_size=10)
    assert reply.batches == (len(events) + 9) // 10
    assert reply.events_received == reply.events_applied == len(events)
    assert reply.events_duplicate == 0
    assert [(c.run_id, c.producer_id, c.last_seq) for c in reply.cursors] == [
        ("run-a", "trainer-0", len(events))
    ]


def test_seed_checklist_through_subscription(shared_sanctum: ThreadedSanctum, make_events) -> None:
    """Seed plan verification checklist, read from a snapshot received over WatchSnapshots."""
    events = make_events("run-c")
    # The factory's batch barrier resets per-episode seeds, so a seed of the episode still in
    # progress is culled after it: SEED_CULLED must keep blueprint_id in env.seeds[slot].
    events += _cull_after_barrier("run-c", events[-1].producer_id, len(events) + 1)
    with Watcher(shared_sanctum, "run-c") as w:
        shared_sanctum.ingest(events)
        snap = w.wait_for(lambda s: s.delivery.events_applied == len(events))
    assert snap is not None, "no complete snapshot arrived over the subscription"
    cfg = snap.run.config
    assert cfg.seed == 42 and cfg.HasField("seed")
    assert cfg.n_episodes == 100
    assert cfg.lr == pytest.approx(3e-4)
    group = snap.tamiyo.groups[0]
    update, measured = group.last_update, group.last_measured
    heads = {h.head: h for h in update.heads}
    assert heads[tpb.ACTION_HEAD_SLOT].entropy == pytest.approx(0.7)
    assert heads[tpb.ACTION_HEAD_BLUEPRINT].entropy == pytest.approx(0.8)
    assert len(heads) == 8
    assert snap.run.last_batch.avg_reward == pytest.approx((0.4 + 0.38) / 2)
    assert snap.run.last_batch.total_episodes == 100
    # CV is sampled on even updates: the last one did not measure it, the one before did.
    assert not update.HasField("gradient_cv")
    assert measured.HasField("gradient_cv") and measured.gradient_cv == pytest.approx(0.42)
    assert (update.clip_fraction_positive, update.clip_fraction_negative) == pytest.approx(
        (0.1, 0.05))
    assert measured.cuda_memory_allocated_gb == pytest.approx(4.2)
    assert measured.cuda_memory_reserved_gb == pytest.approx(8.0)
    assert measured.HasField("cuda_memory_peak_gb")
    assert measured.HasField("cuda_memory_fragmentation")
    assert (cfg.compile_enabled, cfg.compile_backend, cfg.compile_mode) == (
        True,
        "inductor",
        "default",
    )
    culled = {env.env_id: env.seeds["r0c1"] for env in snap.envs.envs if "r0c1" in env.seeds}
    assert culled[1].stage == tpb.SEED_STAGE_PRUNED
    assert culled[1].blueprint_id == "lora"


def _cull_after_barrier(run_id: str, producer: str, seq: int) -> list[tpb.TelemetryEvent]:
    """env 1 germinates a lora seed in r0c1, then SEED_CULLED without a blueprint_id."""
    base = dict(run_id=run_id, producer_id=producer, env_id=1)
    return [
        tpb.TelemetryEvent(**base, seq=seq, event_type=tpb.EVENT_TYPE_SEED_GERMINATED,
                           seed_germinated=tpb.SeedGerminatedPayload(
                               slot_id="r0c1", blueprint_id="lora", seed_id="s-l", params=64)),
        tpb.TelemetryEvent(**base, seq=seq + 1, event_type=tpb.EVENT_TYPE_SEED_CULLED,
                           severity=tpb.SEVERITY_WARNING,
                           seed_pruned=tpb.SeedPrunedPayload(slot_id="r0c1", reason="no gain")),
    ]


def test_cuda_absent_on_cpu_run(shared_sanctum: ThreadedSanctum, make_events) -> None:
    shared_sanctum.ingest(make_events("cpu", cuda_memory=None))
    group = shared_sanctum.snapshot("cpu").tamiyo.groups[0]
    assert not group.last_measured.HasField("cuda_memory_allocated_gb")
    assert not group.last_update.HasField("cuda_memory_reserved_gb")


def test_duplicates_ignored_and_counted(shared_sanctum: ThreadedSanctum, make_events) -> None:
    events = make_events("dup")
    shared_sanctum.ingest(events)
    before = shared_sanctum.snapshot("dup")
    reply = shared_sanctum.ingest(events[:7] + events[-3:])
    assert (reply.events_applied, reply.events_duplicate) == (0, 10)
    after = shared_sanctum.snapshot("dup")
    assert after.delivery.events_duplicate == 10
    assert after.delivery.events_received == len(events) + 10
    assert after.delivery.events_applied == before.delivery.events_applied == len(events)
    # Duplicates change nothing but delivery accounting.
    assert after.tamiyo == before.tamiyo and after.envs == before.envs


def test_gap_recorded_not_filled(shared_sanctum: ThreadedSanctum, make_events) -> None:
    events = make_events("gap")
    sent = events[:5] + events[8:]  # seq 6, 7, 8 never arrive
    shared_sanctum.ingest(sent)
    d = shared_sanctum.snapshot("gap").delivery
    assert d.gap_events == 3
    assert d.events_applied == len(sent)
    assert d.producers[0].gap_events == 3 and d.producers[0].last_seq == len(events)
    # The missing events arriving late are older than the cursor: duplicates, not fills.
    reply = shared_sanctum.ingest(events[5:8])
    assert reply.events_duplicate == 3
    assert shared_sanctum.cursor("gap") == {"trainer-0": len(events)}


def test_cursor_per_producer_and_unknown_run(shared_sanctum: ThreadedSanctum, make_events) -> None:
    shared_sanctum.ingest(make_events("multi", producer_id="rank-0"))
    shared_sanctum.ingest(make_events("multi", producer_id="rank-1", n_batches=1)[:4])
    assert shared_sanctum.cursor("multi") == {"rank-0": 25, "rank-1": 4}
    assert shared_sanctum.cursor("multi", "rank-1") == {"rank-1": 4}
    assert shared_sanctum.cursor("multi", "nobody") == {"nobody": 0}
    assert shared_sanctum.cursor("no-such-run") == {}
    with shared_sanctum.channel() as ch, pytest.raises(grpc.RpcError) as err:
        shared_sanctum.stub(ch).GetResumeCursor(spb.GetResumeCursorRequest())
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_producer_drops_are_idempotent_max(shared_sanctum: ThreadedSanctum, make_events) -> None:
    events = make_events("drops")
    drop = tpb.ProducerDrops(run_id="drops", producer_id="trainer-0", dropped_total=7)
    shared_sanctum.ingest(events, drops=[drop])
    shared_sanctum.ingest([], drops=[drop])  # resent report: no double counting
    shared_sanctum.ingest(
        [], drops=[tpb.ProducerDrops(run_id="drops", producer_id="trainer-0", dropped_total=5)]
    )  # stale report
    d = shared_sanctum.snapshot("drops").delivery
    assert d.producer_dropped == 7 and d.producers[0].dropped_total == 7
    shared_sanctum.ingest(
        [], drops=[tpb.ProducerDrops(run_id="drops", producer_id="trainer-0", dropped_total=9)]
    )
    assert shared_sanctum.snapshot("drops").delivery.producer_dropped == 9


def test_get_snapshot_latest_and_not_found(sanctum: ThreadedSanctum, make_events) -> None:
    with sanctum.channel() as ch, pytest.raises(grpc.RpcError) as err:
        sanctum.stub(ch).GetSnapshot(spb.GetSnapshotRequest())
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    sanctum.ingest(make_events("first"))
    sanctum.ingest(make_events("second"))
    assert sanctum.snapshot().run_id == "second"
    assert sanctum.snapshot("first").run_id == "first"
    with sanctum.channel() as ch, pytest.raises(grpc.RpcError) as err:
        sanctum.stub(ch).GetSnapshot(spb.GetSnapshotRequest(run_id="nope"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert "nope" in err.value.details()


def test_list_runs(sanctum: ThreadedSanctum, make_events) -> None:
    sanctum.ingest(make_events("a"))
    sanctum.ingest(make_events("b", n_batches=1, completed=True))
    with sanctum.channel() as ch:
        runs = {r.run_id: r for r in sanctum.stub(ch).ListRuns(spb.ListRunsRequest()).runs}
    assert set(runs) == {"a", "b"}
    assert runs["a"].task == "cifar10" and runs["a"].n_envs == 2
    assert runs["a"].events_applied == 25
    assert runs["a"].liveness == spb.LIVENESS_LIVE
    assert runs["b"].status == spb.RUN_STATUS_COMPLETED
    assert runs["b"].status_reason == ""


@pytest.mark.parametrize(("reported", "status"), [
    ("interrupted", spb.RUN_STATUS_STOPPED),
    ("error: CUDA out of memory", spb.RUN_STATUS_FAILED),
])
def test_a_run_that_ended_early_is_not_completed(
    sanctum: ThreadedSanctum, make_events, reported: str, status: int
) -> None:
    events = make_events("early", n_batches=1, completed=True)
    events[-1].training_completed.status = reported
    sanctum.ingest(events)
    with sanctum.channel() as ch:
        (run,) = sanctum.stub(ch).ListRuns(spb.ListRunsRequest()).runs
    assert run.status == status and run.status_reason == reported
    snap = sanctum.snapshot("early")
    assert snap.run.status == status and snap.run.completion.status == reported


def test_watch_sends_current_snapshot_at_once_then_changes(
    sanctum: ThreadedSanctum, make_events
) -> None:
    events = make_events("w")
    sanctum.ingest(events[:10])
    with Watcher(sanctum, "w", max_hz=30) as w:
        first = w.wait_for(lambda s: True, timeout=5)
        assert first is not None and first.delivery.events_applied == 10
        sanctum.ingest(events[10:])
        last = w.wait_for(lambda s: s.delivery.events_applied == len(events))
        assert last is not None and last.version > first.version
        versions = [s.version for s in w.snapshots()]
        assert versions == sorted(set(versions)), "only changed versions, in order"


def test_watch_heartbeats_when_idle(sanctum: ThreadedSanctum, make_events) -> None:
    sanctum.ingest(make_events("hb"))
    with Watcher(sanctum, "hb") as w:
        assert w.wait_count(3, timeout=6)
        hbs = w.heartbeats()
        assert len(w.snapshots()) == 1 and len(hbs) >= 2
        assert hbs[-1].version == w.snapshots()[0].version
        assert hbs[-1].HasField("server_time") and hbs[-1].liveness != 0


def test_watch_waits_for_a_run_that_appears_later(sanctum: ThreadedSanctum, make_events) -> None:
    with Watcher(sanctum, "later") as w:
        assert w.wait_count(1, timeout=5)
        assert w.heartbeats() and not w.snapshots()
        assert w.heartbeats()[0].version == 0
        sanctum.ingest(make_events("later"))
        assert w.wait_for(lambda s: s.run_id == "later" and s.delivery.events_applied == 25)


def test_watch_latest_follows_new_run(sanctum: ThreadedSanctum, make_events) -> None:
    sanctum.ingest(make_events("old"))
    with Watcher(sanctum, "") as w:
        assert w.wait_for(lambda s: s.run_id == "old", timeout=5)
        sanctum.ingest(make_events("new"))
        assert w.wait_for(lambda s: s.run_id == "new", timeout=5)


def test_watch_rate_is_capped(make_events) -> None:
    with ThreadedSanctum(max_hz=5) as server, Watcher(server, "r", max_hz=1000) as w:
        events = make_events("r", n_batches=40)
        stop = time.monotonic() + 2.0
        i = 0
        while time.monotonic() < stop and i < len(events):
            server.ingest(events[i : i + 5])
            i += 5
            time.sleep(0.02)
        final = server.snapshot("r").version
        assert w.wait_for(lambda s: s.version >= final, timeout=30)  # all that was sent
        snaps = [t for t, m in w.messages if m.HasField("snapshot")]
        span = snaps[-1] - snaps[0]
        assert len(snaps) >= 3
        # 5 Hz cap: consecutive snapshots at least ~0.2 s apart (scheduler slack allowed).
        assert len(snaps) - 1 <= span * 5 + 1


def test_watch_rejects_negative_rate(shared_sanctum: ThreadedSanctum) -> None:
    request = spb.WatchSnapshotsRequest(max_hz=-1)
    with shared_sanctum.channel() as ch, pytest.raises(grpc.RpcError) as err:
        list(shared_sanctum.stub(ch).WatchSnapshots(request, timeout=5))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_multiple_runs_are_independent(shared_sanctum: ThreadedSanctum, make_events) -> None:
    shared_sanctum.ingest(make_events("x", n_batches=1))
    shared_sanctum.ingest(make_events("y", n_batches=3))
    x, y = shared_sanctum.snapshot("x"), shared_sanctum.snapshot("y")
    assert x.run.last_batch.batch_idx == 0 and y.run.last_batch.batch_idx == 2
    assert x.delivery.events_applied < y.delivery.events_applied


def test_empty_ingest_stream(shared_sanctum: ThreadedSanctum) -> None:
    with shared_sanctum.channel() as ch:
        reply = shared_sanctum.stub(ch).Ingest(iter(()))
    assert reply.batches == 0 and not reply.cursors
    assert list(batches([], 64)) and True
