"""Live-run harness for fan-out benchmarks: a paced producer and subscribers in a child process.

The subscribers run in a separate (spawned) process so that decoding N snapshot streams does
not compete for this process's GIL with the producer, and the server (a SanctumProcess) has
its own process too: on a small machine each side's CPU is then visible and separable.
Arrival times use time.monotonic(), which is the same clock in every process on Linux.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

import grpc

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.sanctum.v2 import sanctum_pb2_grpc
from esper_common.channel import ChannelConfig, aio_channel, sync_channel
from testkit import batches, build_run_events

Arrivals = list[tuple[float, int]]  # (monotonic time, snapshot.delivery.events_applied)


class Feeder:
    """Ingests a long run in small chunks at a fixed cadence, one Ingest call per chunk
    (like the trainer's telemetry sender), recording when each chunk was sent and how many
    events sanctum holds once it is applied."""

    def __init__(self, address: str, run_id: str, chunk: int = 8, period_s: float = 0.05,
                 n_envs: int = 4, events: list[Any] | None = None) -> None:
        self.address, self.run_id = address, run_id
        self.chunk, self.period_s = chunk, period_s
        self.events = events or build_run_events(run_id, n_batches=2000, n_envs=n_envs)
        self.accepted = 0  # events in completed Ingest calls
        self.marks: list[tuple[float, int]] = []  # (t sent, events_applied once applied)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-feeder", daemon=True)
        self._channel = sync_channel(ChannelConfig(address))
        self._stub = sanctum_pb2_grpc.SanctumServiceStub(self._channel)

    def send(self, n: int) -> None:
        """Ingest the next n events now (blocking) and record the mark."""
        part = self.events[self.accepted:self.accepted + n]
        if not part:
            raise RuntimeError("feeder ran out of events; make the run longer")
        t0 = time.monotonic()
        self._stub.Ingest(batches(part, 64), timeout=30)
        self.accepted += len(part)
        self.marks.append((t0, self.accepted))

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            self.send(self.chunk)
            next_at += self.period_s
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def start(self) -> Feeder:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        self._channel.close()


def _child(address: str, run_id: str, n: int, max_hz: float, conn: Connection,
           incremental: bool = False) -> None:
    """Child process: n subscribers; 'ready' once each has a snapshot; (arrivals, bytes
    received per subscriber) on 'stop'. Incremental subscribers read the delivery counts
    from the delta (where it carries the delivery section whole when it changed) rather
    than applying it: the cost measured is the server's and the wire's."""
    arrivals: list[Arrivals] = [[] for _ in range(n)]
    received = [0] * n

    async def one(i: int, first: asyncio.Event) -> None:
        async with aio_channel(ChannelConfig(address, subscriber=True)) as ch:
            stub = sanctum_pb2_grpc.SanctumServiceStub(ch)
            applied = 0
            async for msg in stub.WatchSnapshots(spb.WatchSnapshotsRequest(
                    run_id=run_id, max_hz=max_hz, incremental=incremental)):
                kind = msg.WhichOneof("kind")
                if kind == "snapshot":
                    applied = msg.snapshot.delivery.events_applied
                elif kind == "delta":
                    if msg.delta.set.HasField("delivery"):
                        applied = msg.delta.set.delivery.events_applied
                else:
                    continue
                received[i] += msg.ByteSize()
                arrivals[i].append((time.monotonic(), applied))
                first.set()

    async def main() -> None:
        firsts = [asyncio.Event() for _ in range(n)]
        tasks = [asyncio.create_task(one(i, firsts[i])) for i in range(n)]
        await asyncio.wait_for(asyncio.gather(*(f.wait() for f in firsts)), 60)
        conn.send("ready")
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
                await t
        conn.send((arrivals, received))

    try:
        asyncio.run(main())
    except BaseException as exc:  # tell the parent rather than leave it waiting
        conn.send(f"error: {exc!r}")


class SubscriberProcess:
    """n WatchSnapshots subscribers at max_hz in a spawned process; arrivals on stop()."""

    def __init__(self, address: str, run_id: str, n: int, max_hz: float = 10.0,
                 incremental: bool = False) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_child, daemon=True,
                                 args=(address, run_id, n, max_hz, child, incremental))
        self.arrivals: list[Arrivals] = []
        #: Serialized bytes each subscriber received (snapshots and deltas, no heartbeats).
        self.received: list[int] = []

    def __enter__(self) -> SubscriberProcess:
        self._proc.start()
        if not self._conn.poll(90):
            self._proc.kill()
            raise TimeoutError("subscribers did not all receive a first snapshot")
        msg = self._conn.recv()
        if msg != "ready":
            raise RuntimeError(f"subscriber process: {msg}")
        return self

    def stop(self) -> list[Arrivals]:
        self._conn.send("stop")
        if not self._conn.poll(60):
            raise TimeoutError("subscriber process did not report")
        msg: Any = self._conn.recv()
        if isinstance(msg, str):
            raise RuntimeError(f"subscriber process: {msg}")
        self.arrivals, self.received = msg
        return self.arrivals

    def __exit__(self, *exc: object) -> None:
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(5)


def latencies(arrivals: list[Arrivals], marks: list[tuple[float, int]], hz: float
              ) -> tuple[list[float], list[float], int]:
    """Per subscriber and mark: first arrival holding the mark's events minus its send time.

    Returns (latencies, latencies less the wait for the subscriber's next rate-limited slot
    (its previous arrival + 1/hz), marks some subscriber never saw); seconds."""
    out: list[float] = []
    beyond: list[float] = []
    missing = 0
    for subs in arrivals:
        j = 0
        for t0, target in marks:  # marks and arrivals are both in time order
            while j < len(subs) and (subs[j][1] < target or subs[j][0] < t0):
                j += 1
            if j == len(subs):
                missing += 1
            else:
                out.append(subs[j][0] - t0)
                slot = subs[j - 1][0] + 1.0 / hz if j else t0
                beyond.append(subs[j][0] - max(t0, slot))
    return out, beyond, missing


def rate(arrivals: Arrivals, start: float, end: float) -> float:
    """Snapshots per second one subscriber received in [start, end)."""
    return sum(1 for t, _ in arrivals if start <= t < end) / (end - start)
