"""Series from the index: 100k PPO updates queried at 1,000 points keep their peaks, and the
query reads the index's blocks, not the event log; zoom by step and time; after a restart."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from pathlib import Path

import grpc
import pytest

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.telemetry.v1 import telemetry_pb2 as tpb
from sanctum_svc import checkpoint
from sanctum_svc.aggregator import Aggregator
from sanctum_svc.downsample import downsample
from sanctum_svc.ingest import IngestPipeline
from sanctum_svc.metrics import Metrics
from sanctum_svc.series_index import BLOCK, Segment
from sanctum_svc.store import EventStore
from sanctum_svc.store_thread import AsyncStore
from testkit.events import BASE_TIME, synthetic_ppo_run
from testkit.servers import ThreadedSanctum

N = 100_000
SPIKE, DIP = 71_234, 12_345
KL = "ppo_update.kl_divergence"


async def _fill(path: str, events: list[tpb.TelemetryEvent], checkpoint_at_end: bool) -> None:
    """Through the real ingest path (validation, plan, store + index, apply), big batches."""
    store = EventStore(path)
    store.open()
    astore = AsyncStore(store)
    pipe = IngestPipeline(Aggregator(), astore, Metrics())
    await astore.call(pipe.replay, store)
    futures = [pipe.submit(tpb.EventBatch(events=events[i:i + 1000]), BASE_TIME + i)
               for i in range(0, len(events), 1000)]
    await asyncio.gather(*futures)
    if checkpoint_at_end:  # what a clean stop of the server writes
        data = checkpoint.capture(pipe, pipe.through_batch, pipe.events_held)
        await astore.call(store.write_checkpoint, pipe.through_batch, pipe.events_held, data,
                          BASE_TIME, 2)
    await astore.close()


@pytest.fixture(scope="module")
def long_run(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("series") / "long.sqlite")
    events = synthetic_ppo_run(N, planted={SPIKE: 9.5, DIP: -3.0})
    asyncio.run(_fill(path, events, checkpoint_at_end=True))
    return path


def _series(s: ThreadedSanctum, **request: object) -> spb.SeriesResponse:
    with s.channel() as ch:
        return s.stub(ch).Series(spb.SeriesRequest(run_id="long", **request),
                                 metadata=s.metadata, timeout=30)


def test_100k_updates_at_1000_points_keep_the_spike_and_read_the_index(long_run: str) -> None:
    with ThreadedSanctum(store=long_run) as s:  # a finished run, after a restart
        assert s.server is not None and s.server.replayed == 0
        reply = _series(s, series=[spb.SeriesSelector(name=KL)], max_points=1000)
        coarse = _series(s, series=[spb.SeriesSelector(name=KL)], max_points=100)
    data, = reply.series
    assert data.key.name == KL and data.total_points == N == data.points_in_range
    assert data.downsampled and 900 <= len(data.values) <= 1000
    assert list(data.steps) == sorted(set(data.steps))
    top, bottom = max(data.values), min(data.values)
    assert top == 9.5 and data.steps[list(data.values).index(top)] == SPIKE
    assert bottom == -3.0 and data.steps[list(data.values).index(bottom)] == DIP
    # Its time is the producer's time of that update (seq = index + 2, 10 ms apart).
    assert data.times[list(data.values).index(top)] == pytest.approx(
        BASE_TIME + (SPIKE + 2) * 0.01)
    # It read the index: one row per block of this series (196), not the 100k stored
    # events; each point decoded at most once.
    blocks = -(-N // BLOCK)
    assert reply.stats.blocks_read <= blocks + 1 and reply.stats.damaged_blocks == 0
    assert reply.stats.points_decoded <= N
    # Buckets wider than a block take whole blocks from their stored min/max: almost
    # nothing is decoded, and the peaks are still there.
    c, = coarse.series
    assert len(c.values) <= 100 and max(c.values) == 9.5 and min(c.values) == -3.0
    assert coarse.stats.blocks_read <= blocks + 1
    assert coarse.stats.points_decoded <= 50 * BLOCK < N // 3


def test_zoom_by_steps_and_by_time_is_exact(long_run: str) -> None:
    with ThreadedSanctum(store=long_run) as s:
        near = _series(s, series=[spb.SeriesSelector(name=KL)], step_from=SPIKE - 100,
                       step_to=SPIKE + 99, max_points=1000).series[0]
        t0 = tpb.TelemetryEvent().timestamp
        t0.FromNanoseconds(int((BASE_TIME + (SPIKE + 2 - 100) * 0.01) * 1e9))
        t1 = tpb.TelemetryEvent().timestamp
        t1.FromNanoseconds(int((BASE_TIME + (SPIKE + 2 + 99) * 0.01) * 1e9))
        by_time = _series(s, series=[spb.SeriesSelector(name=KL)], time_from=t0, time_to=t1,
                          max_points=1000).series[0]
        heads = _series(s, series=[spb.SeriesSelector(name="ppo_update.heads.*")],
                        step_from=5, step_to=9)
        listing = _series(s)
    assert not near.downsampled and list(near.steps) == list(range(SPIKE - 100, SPIKE + 100))
    assert near.values[100] == 9.5
    assert list(by_time.steps) == list(near.steps) and list(by_time.values) == list(near.values)
    assert sorted(d.key.name for d in heads.series) == [
        f"ppo_update.heads.{h}.{m}" for h in ("BLUEPRINT", "OP", "SLOT")
        for m in ("entropy", "grad_norm")]
    assert all(list(d.steps) == [5, 6, 7, 8, 9] for d in heads.series)
    names = {d.key.name: d.total_points for d in listing.series}
    assert names[KL] == N and "ppo_update.policy_loss" in names
    assert "ppo_update.cuda_memory_allocated_gb" not in names  # never sent: no series
    assert not any(d.steps for d in listing.series)


def test_bad_series_requests_are_refused(long_run: str) -> None:
    with ThreadedSanctum(store=long_run) as s:
        with pytest.raises(grpc.RpcError) as err:
            _series(s, series=[spb.SeriesSelector(name=KL)], max_points=10**6)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "max_points" in (err.value.details() or "")
        with pytest.raises(grpc.RpcError) as err, s.channel() as ch:
            s.stub(ch).Series(spb.SeriesRequest(run_id="nope"), timeout=10)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_downsampling_keeps_every_extreme_and_only_true_points() -> None:
    rng = random.Random(3)
    values = [rng.gauss(0, 1) for _ in range(5000)]
    times = [float(i) for i in range(5000)]
    from array import array

    def segments() -> list[Segment]:  # blocks of uneven size, the last one "the tail"
        out, i = [], 0
        for size in (700, 1300, 1, 999, 2000):
            out.append(Segment.of(i, array("d", times[i:i + size]),
                                  array("d", values[i:i + size])))
            i += size
        return out

    for s0, s1, limit in ((0, 4999, 100), (650, 4100, 37), (10, 40, 100), (0, 4999, 2)):
        stats: dict[str, int] = {}
        got = downsample(segments(), s0, s1, s1 - s0 + 1, limit, stats)
        assert len(got) <= max(limit, 2)
        assert all(values[st] == v and times[st] == t for st, t, v in got)
        window = values[s0:s1 + 1]
        assert max(v for _, _, v in got) == max(window)
        assert min(v for _, _, v in got) == min(window)
        assert [st for st, _, _ in got] == sorted({st for st, _, _ in got})


def _full(s: ThreadedSanctum, run_id: str = "long") -> list[float]:
    with s.channel() as ch:
        reply = s.stub(ch).Series(spb.SeriesRequest(
            run_id=run_id, series=[spb.SeriesSelector(name=KL)], max_points=20_000),
            metadata=s.metadata, timeout=30)
    data, = reply.series
    assert not data.downsampled and list(data.steps) == list(range(len(data.values)))
    return list(data.values)


def test_the_index_survives_restarts_after_a_checkpoint_or_a_crash(tmp_path: Path) -> None:
    """Periodic checkpoints cut the tails mid-block; a restart without the stop's
    checkpoint (a crash) replays what follows the last one: every point once, in order."""
    path = str(tmp_path / "crash.sqlite")
    events = synthetic_ppo_run(3000)
    expected = [e.ppo_update.kl_divergence for e in events[1:]]
    every = {"checkpoint_every_events": 700, "checkpoint_every_s": 0.0}
    with ThreadedSanctum(store=path, **every) as s:
        # Ends 350 events past the checkpoint due at 2,100: one taken a little late under load
        # still leaves events after it to replay.
        s.ingest(events[:2450], batch_size=50)
        assert s.server is not None
        s.in_loop(lambda: setattr(s.server, "checkpoints", None))  # no checkpoint on stop
    with ThreadedSanctum(store=path, **every) as s:
        assert s.server is not None and s.server.pipeline is not None
        assert 0 < s.server.replayed < 2450  # from the last periodic checkpoint
        assert _full(s) == expected[:2449]
        s.ingest(events[2450:], batch_size=50)
        assert _full(s) == expected
    with ThreadedSanctum(store=path, checkpoint_every_events=0, checkpoint_every_s=0.0) as s:
        assert _full(s) == expected  # from the stop's checkpoint
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM checkpoints")
    with ThreadedSanctum(store=path, checkpoint_every_events=0, checkpoint_every_s=0.0) as s:
        assert s.server is not None and s.server.replayed == len(events)
        assert _full(s) == expected  # rebuilt by a full replay
