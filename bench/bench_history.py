"""The whole history: Series query latency, restart time with and without checkpoints, store
bytes per event (not a test).

- series: one series of 1M points (the index's blocks written directly: the query only reads
  blocks) queried at 1,000 points, p50/p99 over repeated queries; reference in the same run:
  the same buckets computed by decoding every point (what an index without per-block
  min/max, or a scan of the log, has to touch at least).
- restart: a store of N events of a realistic mix (8 envs: per epoch 8 EPOCH_COMPLETED; per
  batch of 5 epochs a BATCH_EPOCH_COMPLETED, a PPO update with 8 heads and vitals) written
  through EventStore (events + series index in the same transactions), a checkpoint taken,
  then 100,000 more (what --checkpoint-every's default leaves after the newest checkpoint at
  worst). Restart = open the store + replay, as `esper-sanctum serve` does before it serves,
  twice on that same store: without checkpoints (every event replayed, the index rebuilt)
  and from the checkpoint (restored, then the 100,000 after it replayed).
- bytes/event: the store file (events, index, checkpoint) over the events it holds.

`make bench` runs N = 1M (--quick: 100k). 10M by hand (minutes, GBs in /tmp):
    .venv/bin/python -m bench.bench_history --events 10000000
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from array import array
from pathlib import Path

from bench import Row, percentile, register, row
from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.telemetry.v1 import telemetry_pb2 as tpb
from sanctum_svc import checkpoint
from sanctum_svc.aggregator import Aggregator
from sanctum_svc.ingest import IngestPipeline
from sanctum_svc.metrics import Metrics
from sanctum_svc.series_index import BLOCK, unpack
from sanctum_svc.series_query import query
from sanctum_svc.store import EventStore
from sanctum_svc.store_thread import AsyncStore
from testkit.events import BASE_TIME, Producer, ppo_payload

N_ENVS = 8
EPOCHS_PER_BATCH = 5
#: Events after the newest checkpoint on a restart with checkpoints (the default cadence).
AFTER_CHECKPOINT = 100_000


# -- series ---------------------------------------------------------------------------------
def series_store(path: str, n_points: int, spike_at: int) -> EventStore:
    """A store whose index holds one series of n_points (blocks written directly)."""
    store = EventStore(path)
    store.open()
    db, index = store.db, store.index
    rng = random.Random(1)
    db.execute("BEGIN")
    index.begin()
    tail = index._tail(db, ("bench", "ppo_update.kl_divergence", "", -1))  # noqa: SLF001
    assert tail is not None
    for start in range(0, n_points, BLOCK):
        n = min(BLOCK, n_points - start)
        values = [0.01 + rng.random() * 0.002 for _ in range(n)]
        if start <= spike_at < start + n:
            values[spike_at - start] = 9.0
        times = [BASE_TIME + (start + i) * 0.01 for i in range(n)]
        index._write_block(db, tail.series_id, start, times, values)  # noqa: SLF001
    tail.first_step = n_points
    db.execute("COMMIT")
    return store


def full_decode_buckets(store: EventStore, series_id: int, total: int, limit: int) -> int:
    """The reference: min/max per bucket computed from every point."""
    per = -(-total // (limit // 2))
    out = 0
    values = array("d")
    for n, data in store.db.execute("SELECT n, data FROM series_blocks WHERE series_id = ? "
                                    "ORDER BY first_step", (series_id,)):
        values.extend(unpack(data, n)[1])
    for i in range(0, total, per):
        chunk = values[i:i + per]
        out += 2 if min(chunk) != max(chunk) else 1
    return out


def bench_series(n_points: int, repeats: int) -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        store = series_store(str(Path(tmp) / "series.sqlite"), n_points, n_points // 3)
        req = spb.SeriesRequest(run_id="bench",
                                series=[spb.SeriesSelector(name="ppo_update.kl_divergence")],
                                max_points=1000)
        times, ref_times = [], []
        reply = query(store, req)
        for _ in range(repeats):
            t0 = time.perf_counter()
            reply = query(store, req)
            times.append(time.perf_counter() - t0)
        series_id = next(iter(store.index.ids.values()))
        for _ in range(max(3, repeats // 10)):
            t0 = time.perf_counter()
            full_decode_buckets(store, series_id, n_points, 1000)
            ref_times.append(time.perf_counter() - t0)
        store.close()
    data = reply.series[0]
    kept = max(data.values) == 9.0
    p50, p99, ref = (percentile(times, 0.5), percentile(times, 0.99),
                     percentile(ref_times, 0.5))
    label = f"{n_points / 1e6:g}M-point series -> 1,000 points"
    return [
        row(f"series query p50: {label}", p50 * 1e3, "ms", f"decode all: {ref * 1e3:,.0f} ms",
            "< decode all", p50 < ref),
        row(f"series query p99: {label}", p99 * 1e3, "ms", "", "", None),
        row(f"series query: blocks read / points decoded ({label})",
            reply.stats.blocks_read, "blocks", f"{reply.stats.points_decoded:,} points decoded",
            "spike kept", kept),
    ]


# -- restart ---------------------------------------------------------------------------------
def _templates() -> tuple[list[tpb.TelemetryEvent], tpb.TelemetryEvent, tpb.TelemetryEvent,
                          tpb.TelemetryEvent]:
    p = Producer("bench-run")
    epochs = [p.epoch(env, acc=0.5, reward=0.1) for env in range(N_ENVS)]
    batch = p.batch(0)
    batch.batch_epoch_completed.env_accuracies.extend([0.5] * N_ENVS)
    batch.batch_epoch_completed.env_rewards.extend([0.1] * N_ENVS)
    ppo = p.make(tpb.EVENT_TYPE_PPO_UPDATE_COMPLETED, ppo_update=ppo_payload(0, None, False))
    vitals = p.make(tpb.EVENT_TYPE_SYSTEM_VITALS, system_vitals=tpb.SystemVitalsPayload(
        cpu_percent=50.0, ram_used_gb=6.0, ram_total_gb=16.0, process_rss_gb=1.0))
    return epochs, batch, ppo, vitals


def event_stream(n: int, first_seq: int = 1):  # noqa: ANN201 - a generator of events
    """n events of the realistic mix, seq from first_seq (TRAINING_STARTED first)."""
    epochs, batch, ppo, vitals = _templates()
    rng = random.Random(first_seq)
    seq = first_seq
    if seq == 1:
        start = Producer("bench-run").started(n_envs=N_ENVS)
        yield start
        seq += 1
    k = 0
    while seq < first_seq + n:
        k += 1
        templates = [*(e for _ in range(EPOCHS_PER_BATCH) for e in epochs), batch, ppo, vitals]
        for t in templates:
            if seq >= first_seq + n:
                return
            ev = tpb.TelemetryEvent()
            ev.CopyFrom(t)
            ev.seq = seq
            ev.timestamp.FromNanoseconds(int(BASE_TIME * 1e9) + seq * 10_000_000)
            kind = ev.WhichOneof("payload")
            if kind == "epoch_completed":
                ev.epoch_completed.val_accuracy = rng.random()
                ev.epoch_completed.reward = rng.random()
            elif kind == "ppo_update":
                ev.ppo_update.kl_divergence = rng.random() * 0.02
                ev.ppo_update.update_index = k
            elif kind == "batch_epoch_completed":
                ev.batch_epoch_completed.batch_idx = k
                ev.batch_epoch_completed.episodes_completed = k * N_ENVS
            yield ev
            seq += 1


def write_events(store: EventStore, n: int, first_seq: int = 1, per_batch: int = 500) -> None:
    """n events into the store (and its index), per_batch per row, 20 rows a transaction."""
    rows: list = []
    batch: list[tpb.TelemetryEvent] = []
    for ev in event_stream(n, first_seq):
        batch.append(ev)
        if len(batch) >= per_batch:
            rows.append(_row(batch))
            batch = []
            if len(rows) >= 20:
                store.commit_many([(rows, [], [])])
                rows = []
    if batch:
        rows.append(_row(batch))
    if rows:
        store.commit_many([(rows, [], [])])


def _row(batch: list[tpb.TelemetryEvent]) -> tuple:
    data = tpb.EventBatch(events=batch).SerializeToString()
    return (BASE_TIME + batch[0].seq * 0.01, len(batch), "bench-run", "trainer-0",
            batch[0].seq, batch[-1].seq, data)


def restart(path: str, use_checkpoints: bool) -> tuple[float, IngestPipeline, EventStore]:
    """Open the store and replay it, as a server start does; (seconds, pipeline, store)."""
    t0 = time.perf_counter()
    store = EventStore(path)
    store.open()
    pipe = IngestPipeline(Aggregator(), AsyncStore(store), Metrics())
    pipe.replay(store, use_checkpoints=use_checkpoints)
    return time.perf_counter() - t0, pipe, store


def bench_restart(n: int) -> list[Row]:
    """Restart times of one store of n + AFTER_CHECKPOINT events, its checkpoint taken at
    event n: replaying every event, and restoring the checkpoint then replaying the rest."""
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "restart.sqlite")
        store = EventStore(path)
        store.open()
        t0 = time.perf_counter()
        write_events(store, n)
        written = time.perf_counter() - t0
        store.close()
        _, pipe, store = restart(path, use_checkpoints=False)
        assert pipe.events_held == n, (pipe.events_held, n)
        data = checkpoint.capture(pipe, pipe.through_batch, pipe.events_held)
        store.write_checkpoint(pipe.through_batch, pipe.events_held, data, time.time())
        write_events(store, AFTER_CHECKPOINT, first_seq=n + 1)
        store.close()
        total = n + AFTER_CHECKPOINT
        full, pipe, store = restart(path, use_checkpoints=False)
        assert pipe.events_held == total, (pipe.events_held, total)
        store.close()
        fast, pipe2, store2 = restart(path, use_checkpoints=True)
        assert pipe2.events_held == total
        assert pipe2.restored_events == n, pipe2.restored_events
        store2.close()
        size = os.path.getsize(path)
    label = f"{total / 1e6:g}M events"
    return [
        row(f"restart without checkpoint: {label}", full, "s",
            f"written in {written:,.0f} s (the first {n:,})", "", None),
        row(f"restart from checkpoint: the same {label}, {AFTER_CHECKPOINT:,} after it", fast,
            "s", f"checkpoint {len(data):,} bytes", "< without", fast < full),
        row(f"store bytes per event ({label}, index + checkpoint)",
            size / total, "bytes", f"{size / 1e6:,.0f} MB file", "", None),
    ]


@register("history")
def bench_history(quick: bool) -> list[Row]:
    return [*bench_series(1_000_000, 20 if quick else 100),
            *bench_restart(100_000 if quick else 1_000_000)]


def main() -> None:
    parser = argparse.ArgumentParser(description="restart-time bench for one store size")
    parser.add_argument("--events", type=int, default=10_000_000)
    args = parser.parse_args()
    print(f"# python -m bench.bench_history --events {args.events}", flush=True)
    for r in bench_restart(args.events):
        print(f"{r['name']}: {r['value']:,.3f} {r['unit']} ({r['reference']})", flush=True)


if __name__ == "__main__":
    main()
