"""Scale benchmarks against a real sanctum process (not tests).

concurrent producers: the same total of events ingested by 1, 8 and 32 concurrent Ingest
    streams (each its own run and producer, batches of 64, pre-encoded so the client costs
    little); events/s over the whole transfer, beside the 1-stream rate of the same run.
memory per run: server RSS (from /proc) grows by how much when it holds 100 more runs
    (each 4 envs, a few hundred events), divided by 100; the reference is the run's
    snapshot size.

    python -m bench [--quick] scale
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

import grpc

from bench import Row, register, row, rss_bytes
from esper.sanctum.v2 import sanctum_pb2 as spb
from testkit import SanctumProcess, ThreadedSanctum, batches, build_run_events

_INGEST = "/esper.sanctum.v2.SanctumService/Ingest"


def _encoded(run_id: str, n_events: int) -> list[bytes]:
    events = build_run_events(run_id, n_batches=n_events // 14 + 2, n_envs=4)[:n_events]
    return [req.SerializeToString() for req in batches(events, 64)]


async def _ingest_all(address: str, streams: list[list[bytes]]) -> float:
    """Send every stream concurrently on one channel; seconds until all are acknowledged."""
    async with grpc.aio.insecure_channel(address) as ch:
        ingest = ch.stream_unary(_INGEST, request_serializer=None,
                                 response_deserializer=spb.IngestResponse.FromString)
        await ch.channel_ready()
        started = time.perf_counter()
        replies = await asyncio.gather(*(ingest(iter(s), timeout=300) for s in streams))
        elapsed = time.perf_counter() - started
    for reply in replies:
        assert reply.events_applied == reply.events_received > 0, reply
    return elapsed


def producers_rows(quick: bool, tmp: str) -> list[Row]:
    total = 8_000 if quick else 64_000
    rates: dict[int, float] = {}
    for n in (1, 8, 32):
        with SanctumProcess(str(Path(tmp) / f"scale-{n}.sqlite")) as server:
            streams = [_encoded(f"scale-{n}-{i}", total // n) for i in range(n)]
            sent = sum(len(spb.IngestRequest.FromString(b).batch.events)
                       for s in streams for b in s)
            rates[n] = sent / asyncio.run(_ingest_all(server.address, streams))
    return [row(f"scale: ingest, {n} concurrent producer stream(s)", rates[n], "events/s",
                "reference" if n == 1 else f"{rates[n] / rates[1]:.0%} of 1 stream", "", None)
            for n in (1, 8, 32)]


def memory_rows(quick: bool, tmp: str) -> list[Row]:
    runs = 100
    events_per_run = 150 if quick else 600
    with SanctumProcess(str(Path(tmp) / "mem.sqlite")) as server:
        assert server.proc is not None
        warm = [_encoded("warm", events_per_run)]
        asyncio.run(_ingest_all(server.address, warm))  # imports, caches, first-run costs
        time.sleep(0.3)
        before = rss_bytes(server.proc.pid)
        streams = [_encoded(f"mem-{i}", events_per_run) for i in range(runs)]
        for k in range(0, runs, 10):
            asyncio.run(_ingest_all(server.address, streams[k:k + 10]))
        time.sleep(0.3)
        after = rss_bytes(server.proc.pid)
    with ThreadedSanctum() as ref:  # one run's snapshot, for scale
        ref.ingest(build_run_events("one", n_batches=events_per_run // 14 + 2,
                                    n_envs=4)[:events_per_run])
        snap_bytes = ref.snapshot("one").ByteSize()
    per_run = (after - before) / runs
    return [row(f"scale: server memory per run, {runs} runs held", per_run / 1024, "KiB",
                f"snapshot {snap_bytes / 1024:,.0f} KiB", "", None)]


@register("scale")
def bench_scale(quick: bool) -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        return producers_rows(quick, tmp) + memory_rows(quick, tmp)
