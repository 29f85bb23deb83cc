"""Cluster mode (3 NATS JetStream servers, R=3) against the single-process SQLite default,
all measured in the same run, every sanctum a subprocess.

1. ingest events/s through one replica while 1 or 2 replicas apply the stream, and with two
   producers each writing to its own replica; reference: one SQLite sanctum.
2. fan-out: subscribers asking 10 Hz while a run is ingested, all on one replica vs spread
   over two; the row is the median rate each subscriber got.
3. fail-over gap: a producer streams into replica A with B as its second address; A is
   killed -9; the gap is the time from the kill to the producer's next acknowledged batch.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import grpc

from bench import Row, register, row
from bench.bench_sanctum import _requests, _stream
from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.sanctum.v2 import sanctum_pb2_grpc
from esper_client import TelemetryClient, TelemetryConfig
from sanctum_svc.cluster.launch import NatsCluster
from testkit import SanctumProcess, batches, build_run_events
from testkit.cluster import ClusterReplica


def _parallel(jobs: Sequence[tuple[str, str]], n_batches: int) -> float:
    """Events/s of several producers at once, each (address, run) its own stream."""
    work = [(a, _requests(r, n_batches)) for a, r in jobs]
    started = time.perf_counter()
    threads = [threading.Thread(target=_stream, args=job) for job in work]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    events = sum(len(r.batch.events) for _, requests in work for r in requests)
    return events / (time.perf_counter() - started)


def _replicas(nats: NatsCluster, n: int) -> list[ClusterReplica]:
    out = [ClusterReplica(nats.urls) for _ in range(n)]
    for r in out:
        r.start(60)
    return out


async def _watch(address: str, run_id: str, seconds: float) -> int:
    got = 0
    async with grpc.aio.insecure_channel(address) as ch:
        stub = sanctum_pb2_grpc.SanctumServiceStub(ch)
        call = stub.WatchSnapshots(spb.WatchSnapshotsRequest(run_id=run_id, max_hz=10))
        deadline = time.monotonic() + seconds
        try:
            async for msg in call:
                if msg.HasField("snapshot"):
                    got += 1
                if time.monotonic() > deadline:
                    break
        finally:
            call.cancel()
    return got


def _paced(address: str, requests: list[spb.IngestRequest], seconds: float) -> None:
    """Stream `requests` evenly over `seconds` (a run that keeps changing)."""
    gap = seconds / max(1, len(requests))

    def gen():  # noqa: ANN202
        for r in requests:
            yield r
            time.sleep(gap)

    with grpc.insecure_channel(address) as ch:
        sanctum_pb2_grpc.SanctumServiceStub(ch).Ingest(gen(), timeout=600)


def _fanout(addresses: list[str], n_subs: int, run_id: str, seconds: float,
            feed: str) -> float:
    """Median snapshots/s per subscriber while `feed` ingests into the watched run."""
    requests = list(batches(build_run_events(run_id, n_batches=400), 16))
    with grpc.insecure_channel(feed) as ch:  # the run exists before anyone watches it
        sanctum_pb2_grpc.SanctumServiceStub(ch).Ingest(iter(requests[:2]), timeout=60)

    async def main() -> list[int]:
        return await asyncio.gather(*(_watch(addresses[i % len(addresses)], run_id, seconds)
                                      for i in range(n_subs)))

    feeder = threading.Thread(target=_paced, args=(feed, requests[2:], seconds + 1))
    feeder.start()
    counts = asyncio.run(main())
    feeder.join()
    return statistics.median(counts) / seconds


def _failover_gap(a: ClusterReplica, b: ClusterReplica, spool: Path) -> float:
    events = build_run_events("failover-gap", n_batches=400)
    client = TelemetryClient(TelemetryConfig(
        f"{a.address},{b.address}", run_id="failover-gap", producer_id="trainer-0",
        spool_dir=str(spool), backoff_initial_s=0.05, backoff_max_s=0.3, rpc_timeout_s=5.0))
    client.start()
    killed = gap = 0.0
    try:
        for i, ev in enumerate(events):
            ev.run_id, ev.producer_id = "failover-gap", "trainer-0"
            client.emit(ev)
            time.sleep(0.002)
            if i == len(events) // 3:
                while client.stats()["acked"] < i // 2:
                    time.sleep(0.001)
                acked = client.stats()["acked"]
                a.kill()
                killed = time.perf_counter()
            if killed and not gap and client.stats()["acked"] > acked:
                gap = time.perf_counter() - killed
        client.close(timeout=30)
        if not gap:
            gap = time.perf_counter() - killed
    finally:
        client.close(timeout=1)
    return gap


@register("cluster")
def bench_cluster(quick: bool) -> list[Row]:
    n_batches = 150 if quick else 1000
    subs, seconds = (20, 3.0) if quick else (100, 6.0)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        with SanctumProcess(str(base / "ref.sqlite")) as ref:
            sqlite_rate = _parallel([(ref.address, "ref-1")], n_batches)
            sqlite_two = _parallel([(ref.address, "ref-2a"), (ref.address, "ref-2b")],
                                   n_batches)
            fan_ref = _fanout([ref.address], subs, "fan-ref", seconds, ref.address)
        with NatsCluster(base / "nats") as nats:
            a, = _replicas(nats, 1)
            one = _parallel([(a.address, "c1")], n_batches)
            b, = _replicas(nats, 1)
            two = _parallel([(a.address, "c2")], n_batches)
            split = _parallel([(a.address, "c3a"), (b.address, "c3b")], n_batches)
            fan_one = _fanout([a.address], subs, "fan-1", seconds, a.address)
            fan_two = _fanout([a.address, b.address], subs, "fan-2", seconds, a.address)
            gap = _failover_gap(a, b, base / "spool")
            b.kill()
    ref_s = f"{sqlite_rate:,.0f}/s SQLite"
    return [
        row("single-process SQLite ingest", sqlite_rate, "events/s", "reference"),
        row("cluster ingest, 1 replica", one, "events/s", ref_s),
        row("cluster ingest, 2 replicas applying", two, "events/s", ref_s),
        row("single-process SQLite, 2 producers", sqlite_two, "events/s", "reference"),
        row("cluster, 2 producers on 2 replicas", split, "events/s",
            f"{sqlite_two:,.0f}/s SQLite"),
        row(f"fan-out {subs} subs at 10 Hz, SQLite single", fan_ref, "Hz/sub (median)",
            "reference", "10"),
        row(f"fan-out {subs} subs at 10 Hz, 1 replica", fan_one, "Hz/sub (median)",
            f"{fan_ref:.3g} Hz single", "10"),
        row(f"fan-out {subs} subs at 10 Hz over 2 replicas", fan_two, "Hz/sub (median)",
            f"{fan_one:.3g} Hz on 1", "10"),
        row("fail-over gap (kill -9 A -> next ack via B)", gap * 1000, "ms", "", ""),
    ]
