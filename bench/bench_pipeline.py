"""Sanctum's own CPU per ingested event on the original's realistic mix, without gRPC.

The transport rows (bench_original, bench_sanctum) measure the whole call, client and gRPC
included; on a shared 2-core machine they move with the load. This one feeds the same
batches (as received bytes) straight to `IngestPipeline.submit` of a real server (SQLite
store in a temp dir, up to 4 batches in flight as the Ingest RPC keeps them) and reports
the process CPU time per event: validation, planning, the store thread (write and series
index), apply and health, the work this server adds to the raw transport. Interleaved
rounds beside the raw parse of the same bytes (the part every server pays).

    python -m bench [--quick] pipeline
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections import deque
from pathlib import Path

from bench import Row, register, row
from esper.telemetry.v1 import telemetry_pb2 as tpb
from sanctum_svc.config import ServerConfig
from sanctum_svc.planner import BatchResult
from sanctum_svc.server import SanctumServer
from testkit import batches
from testkit.original_mix import BATCH_EVENTS, original_mix

#: Batches in flight, as SanctumServicer.Ingest keeps them (INGEST_DEPTH).
IN_FLIGHT = 4


async def _round(raws: list[bytes], store: str) -> tuple[float, float]:
    """(CPU seconds, wall seconds) to ingest `raws` through a fresh server's pipeline."""
    server = SanctumServer(ServerConfig(listen="127.0.0.1:0", store=store),
                           replay_progress=None)
    await server.start()
    try:
        pipeline = server.pipeline
        assert pipeline is not None
        parsed = [tpb.EventBatch.FromString(b) for b in raws]
        pending: deque[asyncio.Future[BatchResult]] = deque()
        applied = 0
        cpu, wall = time.process_time(), time.perf_counter()
        for batch, raw in zip(parsed, raws, strict=True):
            pending.append(pipeline.submit(batch, raw=raw))
            while len(pending) > IN_FLIGHT:
                applied += (await pending.popleft()).applied
        while pending:
            applied += (await pending.popleft()).applied
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        assert applied == sum(len(b.events) for b in parsed), applied
        return cpu, wall
    finally:
        await server.stop(0)


@register("pipeline")
def bench_pipeline(quick: bool) -> list[Row]:
    rounds, n_batches = (3, 2) if quick else (7, 5)
    raws = [r.batch.SerializeToString()
            for r in batches(original_mix("mix", n_batches=n_batches), 64)]
    n = sum(len(tpb.EventBatch.FromString(b).events) for b in raws)
    cpu, wall, parse = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            started = time.process_time()
            for b in raws:
                tpb.EventBatch.FromString(b)
            parse.append((time.process_time() - started) / n * 1e6)
            c, w = asyncio.run(_round(raws, str(Path(tmp) / f"r{r}.sqlite")))
            cpu.append(c / n * 1e6)
            wall.append(n / w)
    us, ref = statistics.median(cpu), statistics.median(parse)
    mix = f"{BATCH_EVENTS:,}-event mix, {n:,} events"
    return [
        row("ingest pipeline CPU per event (no gRPC)", us, "us/event",
            f"{mix}; rounds {min(cpu):.1f}-{max(cpu):.1f}", ""),
        row("ingest pipeline / parsing the same bytes", us / ref, "x",
            f"parse {ref:.2f} us/event", ""),
        row("ingest pipeline rate (no gRPC)", statistics.median(wall), "events/s", mix, ""),
    ]
