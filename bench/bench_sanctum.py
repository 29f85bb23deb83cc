"""Sanctum benchmarks: ingest throughput vs raw gRPC, and snapshot latency.

1. ingest+validate+persist+aggregate events/s, against a do-nothing server (same batches of
   64, same client, same run; interleaved repeats, median). Goal: >= 50% of the raw rate.
2. event accepted -> snapshot received latency p50/p99 with 1 and 32 subscribers (the
   clock starts when the Ingest call carrying the event starts, so it includes ingest).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import grpc

from bench import Row, register, row
from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.sanctum.v2 import sanctum_pb2_grpc
from esper_common.channel import SUBSCRIBER_OPTIONS
from sanctum_svc.servicer import SERVICE_NAME
from testkit import ThreadedSanctum, batches, build_run_events, free_port


class NullSanctum:
    """A grpc.aio server whose Ingest parses every request and counts events, nothing else;
    its IngestStream acknowledges each parsed batch at once."""

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    async def _ingest(self, requests, context) -> spb.IngestResponse:  # noqa: ANN001
        n = 0
        async for req in requests:
            n += len(req.batch.events)
        return spb.IngestResponse(events_received=n)

    async def _ingest_stream(self, requests, context):  # noqa: ANN001, ANN202
        n = 0
        async for req in requests:
            yield spb.IngestStreamResponse(batch=n, events_received=len(req.batch.events))
            n += 1

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def start() -> grpc.aio.Server:
            server = grpc.aio.server()
            server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
                SERVICE_NAME, {"Ingest": grpc.stream_unary_rpc_method_handler(
                    self._ingest, request_deserializer=spb.IngestRequest.FromString,
                    response_serializer=spb.IngestResponse.SerializeToString),
                 "IngestStream": grpc.stream_stream_rpc_method_handler(
                    self._ingest_stream, request_deserializer=spb.IngestStreamRequest.FromString,
                    response_serializer=spb.IngestStreamResponse.SerializeToString)}),))
            self.port = server.add_insecure_port(f"127.0.0.1:{self.port}")
            await server.start()
            return server

        self._server = self._loop.run_until_complete(start())
        self._ready.set()
        self._loop.run_forever()

    def __enter__(self) -> NullSanctum:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._server.stop(0), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


class NullSanctumProcess:
    """NullSanctum in a process of its own: the raw-transport reference for a sanctum
    process, so neither side shares an interpreter (and a GIL) with the client."""

    def __init__(self) -> None:
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> NullSanctumProcess:
        code = ("import sys, threading; from bench.bench_sanctum import NullSanctum; "
                f"NullSanctum({self.port}).__enter__(); threading.Event().wait()")
        self.proc = subprocess.Popen([sys.executable, "-c", code])
        with grpc.insecure_channel(self.address) as ch:
            grpc.channel_ready_future(ch).result(timeout=30)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)


def _requests(run_id: str, n_batches: int) -> list[spb.IngestRequest]:
    return list(batches(build_run_events(run_id, n_batches=n_batches), 64))


def _stream(address: str, requests: list[spb.IngestRequest]) -> float:
    """Events/s of one client stream carrying `requests`."""
    n = sum(len(r.batch.events) for r in requests)
    with grpc.insecure_channel(address) as ch:
        stub = sanctum_pb2_grpc.SanctumServiceStub(ch)
        started = time.perf_counter()
        reply = stub.Ingest(iter(requests), timeout=300)
        elapsed = time.perf_counter() - started
    assert reply.events_received == n, (reply.events_received, n)
    return n / elapsed


@register("sanctum_ingest")
def bench_ingest(quick: bool) -> list[Row]:
    """Rounds of (raw, full) on the same batches, interleaved; the ratio is the median of the
    per-round ratios, which is steadier than a ratio of medians on a shared machine."""
    n_batches = 300 if quick else 2500  # ~9 events per batch-of-episodes in the mix
    rounds = 2 if quick else 5
    raw, full, ratios = [], [], []
    with tempfile.TemporaryDirectory() as tmp, NullSanctum() as null:
        for r in range(rounds):
            raw.append(_stream(f"127.0.0.1:{null.port}", _requests(f"raw-{r}", n_batches)))
            store = str(Path(tmp) / f"bench-{r}.sqlite")
            with ThreadedSanctum(store=store) as server:
                full.append(_stream(server.address, _requests(f"run-{r}", n_batches)))
                applied = server.snapshot(f"run-{r}").delivery.events_applied
                assert applied > 0
            ratios.append(full[-1] / raw[-1])
    raw_rate, full_rate = statistics.median(raw), statistics.median(full)
    ratio = statistics.median(ratios)
    spread = f"rounds {min(ratios) * 100:.0f}-{max(ratios) * 100:.0f}%"
    return [
        row("raw gRPC ingest (parse only)", raw_rate, "events/s", "reference", ""),
        row("sanctum ingest+validate+persist+aggregate", full_rate, "events/s",
            f"{raw_rate:,.0f}/s raw", ">= 50% of raw", None),
        row("sanctum ingest / raw gRPC", ratio * 100, "%", spread, ">= 50%", ratio >= 0.5),
    ]


class Subscribers:
    """N WatchSnapshots streams on one asyncio client loop, recording arrivals."""

    def __init__(self, address: str, run_id: str, n: int) -> None:
        self.address, self.run_id, self.n = address, run_id, n
        self.arrivals: list[list[tuple[float, int]]] = [[] for _ in range(n)]
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._tasks: list[concurrent.futures.Future[None]] = []

    async def _one(self, i: int) -> None:
        opts = [("grpc.max_receive_message_length", 4 << 20), *SUBSCRIBER_OPTIONS]
        async with grpc.aio.insecure_channel(self.address, options=opts) as ch:
            stub = sanctum_pb2_grpc.SanctumServiceStub(ch)
            async for msg in stub.WatchSnapshots(spb.WatchSnapshotsRequest(
                    run_id=self.run_id, max_hz=30)):
                if msg.HasField("snapshot"):
                    self.arrivals[i].append((time.perf_counter(),
                                             msg.snapshot.delivery.events_applied))

    def __enter__(self) -> Subscribers:
        self._thread.start()
        self._tasks = [asyncio.run_coroutine_threadsafe(self._one(i), self._loop)
                       for i in range(self.n)]
        return self

    def __exit__(self, *exc: object) -> None:
        for t in self._tasks:
            t.cancel()
        time.sleep(0.2)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


def _latency(n_subscribers: int, samples: int) -> list[float]:
    events = build_run_events("lat", n_batches=samples + 2)
    with ThreadedSanctum(max_hz=30) as server:
        server.ingest(events[:1])
        with Subscribers(server.address, "lat", n_subscribers) as subs:
            deadline = time.monotonic() + 20
            while any(not a for a in subs.arrivals) and time.monotonic() < deadline:
                time.sleep(0.05)
            marks: list[tuple[float, int]] = []
            with grpc.insecure_channel(server.address) as ch:
                stub = sanctum_pb2_grpc.SanctumServiceStub(ch)
                for i in range(1, min(len(events), samples + 1)):
                    t0 = time.perf_counter()
                    stub.Ingest(batches(events[i:i + 1], 64))
                    marks.append((t0, i + 1))
                    time.sleep(0.08)
            time.sleep(0.5)
            out = []
            for arrivals in subs.arrivals:
                for t0, target in marks:
                    hit = next((t for t, applied in arrivals if applied >= target and t >= t0),
                               None)
                    if hit is not None:
                        out.append(hit - t0)
    return out


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


@register("sanctum_latency")
def bench_latency(quick: bool) -> list[Row]:
    samples = 15 if quick else 60
    rows = []
    for n in (1, 32):
        lat = _latency(n, samples)
        p50, p99 = _pct(lat, 0.5) * 1e3, _pct(lat, 0.99) * 1e3
        rows.append(row(f"snapshot latency p50, {n} subscriber(s)", p50, "ms",
                        f"{len(lat)} deliveries", "", None))
        rows.append(row(f"snapshot latency p99, {n} subscriber(s)", p99, "ms",
                        "30 Hz cap = 33 ms spacing", "< 250 ms", p99 < 250))
    return rows
