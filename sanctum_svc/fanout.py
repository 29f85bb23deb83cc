"""Snapshot fan-out: every subscriber pulls the LATEST snapshot when it is due.

There is no per-subscriber queue. Each subscriber's stream loop sends on the leading edge:
a change reaching a subscriber idle for longer than its interval (1/hz) goes out at once;
changes within the interval are coalesced into one send when it ends. It takes the run's
current version, never a stale one: when the shared build is behind, it waits (< 1/max_hz)
for the next build instead of sending the old bytes and the new a whole interval later. A
version's WatchSnapshotsResponse is built and serialized once and the bytes are shared by
all subscribers (the handler is registered with an identity serializer). A subscriber whose
transport is slow simply blocks in its own write and, when it resumes, takes whatever is
latest then: memory per subscriber is one reference to shared bytes, and ingest never waits
on subscribers. A write blocked longer than `stall_timeout` gets the stream cancelled by a
watchdog. When nothing changed a Heartbeat is sent every `heartbeat_s`.

A subscriber that asked for `incremental` gets, after its first full snapshot, a
SnapshotDelta from the build it holds to the latest (sanctum_svc.delta). The last few
builds of each run are kept (DELTA_BASES, at most DELTA_BASE_BYTES in all) and each delta
is built and serialized once per (base build, new build) and shared like the full bytes;
a subscriber whose base is no longer kept, or whose delta would not be smaller, gets the
full snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import grpc

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper_common.derived import liveness_for_age
from sanctum_svc import reclaim
from sanctum_svc.aggregator import Aggregator, RunAggregator
from sanctum_svc.config import ServerConfig
from sanctum_svc.delta import build_delta
from sanctum_svc.metrics import Metrics

log = logging.getLogger(__name__)

#: Builds of a run kept as bases for deltas (a subscriber at 1 Hz is up to max_hz builds
#: behind), and the most bytes they may hold together (snapshots are up to the budget).
DELTA_BASES = 32
DELTA_BASE_BYTES = 4 << 20


@dataclass
class _Cached:
    version: int
    data: bytes
    #: Liveness baked into `data`: a run that stops changing still goes LIVE -> SLOW ->
    #: STALE, and a new subscriber's first snapshot must say so.
    liveness: int = 0
    #: time.monotonic() when built: a run is rebuilt at most max_hz times a second.
    built_at: float = 0.0
    #: The snapshot itself while this is the run's current build (None once superseded), and
    #: a number unique to this build.
    snap: spb.SanctumSnapshot | None = None
    build: int = 0
    #: Serialized response per base build: a delta, or `data` when that is no larger.
    deltas: dict[int, bytes] = field(default_factory=dict)


@dataclass(eq=False)
class _Subscriber:
    task: asyncio.Task[object] | None
    writing_since: float | None = None
    #: gRPC peer ("ipv4:host:port"): which connection to close if it stalls.
    peer: str = ""
    #: Cancelled by the watchdog; it may stay listed while its write is blocked.
    dropped: bool = False


class Fanout:
    """Shared snapshot bytes per (run, version), subscriber loops and their watchdog."""

    def __init__(self, aggregator: Aggregator, config: ServerConfig, metrics: Metrics) -> None:
        self.aggregator = aggregator
        self.config = config
        self.metrics = metrics
        self._cache: dict[str, _Cached] = {}
        self._bases: dict[str, deque[_Cached]] = {}
        self._builds = 0
        self._changed = asyncio.Event()
        self._stopping = False
        self._subscribers: set[_Subscriber] = set()
        self._watchdog: asyncio.Task[None] | None = None
        #: The server's port, set once bound: stalled connections are found by it.
        self.local_port: int | None = None

    # -- producer side ----------------------------------------------------------------------
    def notify(self) -> None:
        """State changed: wake idle subscribers (due ones pick the new version up)."""
        self._changed.set()

    def _wait_target(self) -> asyncio.Event:
        if self._changed.is_set():
            self._changed = asyncio.Event()
        return self._changed

    def snapshot_bytes(self, run: RunAggregator) -> tuple[int, bytes]:
        """The serialized WatchSnapshotsResponse for the run's current version (built once)."""
        cached = self.current(run)
        return cached.version, cached.data

    def current(self, run: RunAggregator) -> _Cached:
        """The run's shared build for its current version (built at most max_hz a second)."""
        now = time.time()
        liveness = 0
        if run.last_event_time is not None:
            liveness = liveness_for_age(max(0.0, now - run.last_event_time))
        cached = self._cache.get(run.run_id)
        if cached is not None and cached.liveness == liveness and (
                cached.version == run.version
                or time.monotonic() - cached.built_at < 1.0 / self.config.max_hz):
            # Subscribers due at different moments share one build per 1/max_hz: the one
            # served the older version takes the newer one on its next turn.
            return cached
        started = time.perf_counter()
        version = run.version
        snap = run.snapshot(now)
        data = spb.WatchSnapshotsResponse(snapshot=snap).SerializeToString()
        self.metrics.snapshot_build.observe(time.perf_counter() - started)
        self._builds += 1
        previous = self._cache.get(run.run_id)
        if previous is not None:
            previous.deltas.clear()  # only the current build's deltas are sent again
            # A base keeps only its bytes (counted against DELTA_BASE_BYTES): the parsed
            # message is several times larger in memory and is re-read when a delta needs it.
            previous.snap = None
        cached = _Cached(version, data, liveness, time.monotonic(), snap, self._builds)
        self._cache[run.run_id] = cached
        self._keep_base(run.run_id, cached)
        return cached

    def _keep_base(self, run_id: str, cached: _Cached) -> None:
        bases = self._bases.setdefault(run_id, deque())
        bases.append(cached)
        held = sum(len(b.data) for b in bases)
        while len(bases) > DELTA_BASES or (len(bases) > 1 and held > DELTA_BASE_BYTES):
            held -= len(bases.popleft().data)
        for gone in [r for r in self._bases if self.aggregator.get(r) is None]:
            del self._bases[gone]
            self._cache.pop(gone, None)

    def update_bytes(self, run_id: str, cached: _Cached, base_build: int) -> bytes:
        """What a subscriber holding build `base_build` of the run gets for `cached`: a
        delta when its base is still kept and the delta is smaller, else the full bytes."""
        data = cached.deltas.get(base_build)
        if data is not None:
            return data
        base = next((b for b in self._bases.get(run_id, ()) if b.build == base_build), None)
        data = cached.data
        if base is not None and cached.snap is not None:
            held = base.snap or spb.WatchSnapshotsResponse.FromString(base.data).snapshot
            delta = build_delta(held, cached.snap)
            encoded = spb.WatchSnapshotsResponse(delta=delta).SerializeToString()
            if len(encoded) < len(data):
                data = encoded
        cached.deltas[base_build] = data
        return data

    def _rebuild_in(self, run_id: str) -> float:
        """Seconds until the run's shared snapshot may be rebuilt (see snapshot_bytes)."""
        cached = self._cache.get(run_id)
        if cached is None:
            return 0.0
        return max(0.001, cached.built_at + 1.0 / self.config.max_hz - time.monotonic())

    def heartbeat_bytes(self, run: RunAggregator | None) -> bytes:
        hb = spb.Heartbeat()
        now = time.time()
        hb.server_time.FromNanoseconds(int(now * 1e9))
        if run is not None:
            hb.version = run.version
            if run.last_event_time is not None:
                age = max(0.0, now - run.last_event_time)
                hb.seconds_since_last_event = age
                hb.liveness = liveness_for_age(age)
        return spb.WatchSnapshotsResponse(heartbeat=hb).SerializeToString()

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        self._watchdog = asyncio.get_running_loop().create_task(self._watch_stalls())

    async def close(self) -> None:
        """Ask every subscriber loop to return (their streams end with OK)."""
        self._stopping = True
        self._changed.set()
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    async def _watch_stalls(self) -> None:
        period = min(1.0, self.config.stall_timeout / 4)
        trim_due = False
        while True:
            await asyncio.sleep(period)
            if trim_due:  # the connections closed last pass have been torn down by now
                reclaim.trim()
                trim_due = False
            now = time.monotonic()
            dropped = []
            for sub in list(self._subscribers):
                since = sub.writing_since
                if since is not None and now - since > self.config.stall_timeout and sub.task:
                    log.warning("subscriber %s stalled for %.0f s; disconnecting it",
                                sub.peer, now - since)
                    self.metrics.stalled.inc()
                    sub.task.cancel()
                    sub.writing_since = None
                    sub.dropped = True
                    dropped.append(sub)
            if dropped:
                trim_due = await self._close_stalled(dropped)

    async def _close_stalled(self, dropped: list[_Subscriber]) -> bool:
        """Close the connections of dropped subscribers (see sanctum_svc.reclaim: only that
        frees the snapshot each one is blocked on), unless a subscriber that still reads
        shares the connection: one not dropped whose write, if one is in flight, started
        less than half the stall timeout ago (a reader caught mid-write keeps its
        connection; one blocked as long as those being dropped does not, nor does one
        dropped earlier whose write is still blocked). True when some were closed."""
        now = time.monotonic()
        peers = {sub.peer for sub in dropped if sub.peer}
        peers -= {sub.peer for sub in self._subscribers
                  if not sub.dropped and (sub.writing_since is None or
                                          now - sub.writing_since < self.config.stall_timeout / 2)}
        if not peers or self.local_port is None:
            return False
        closed = await asyncio.to_thread(reclaim.close_connections, peers, self.local_port)
        log.info("closed %d connection(s) of stalled subscribers", closed)
        return closed > 0

    # -- the stream -------------------------------------------------------------------------
    def hz_for(self, request: spb.WatchSnapshotsRequest) -> float:
        """The client's rate, defaulted and capped by the server; ValueError when invalid."""
        wanted = request.max_hz
        if math.isnan(wanted) or wanted < 0:
            raise ValueError(f"max_hz must be >= 0 (0 = server default), got {wanted}")
        hz = wanted or self.config.default_hz
        return min(hz, self.config.max_hz)

    def _resolve(self, run_id: str) -> RunAggregator | None:
        if not run_id:
            latest = self.aggregator.latest_run_id()
            return self.aggregator.get(latest) if latest is not None else None
        return self.aggregator.get(run_id)

    async def watch(self, request: spb.WatchSnapshotsRequest,
                    context: grpc.aio.ServicerContext) -> None:
        """WatchSnapshots: the current snapshot at once, then changes at <= hz, heartbeats."""
        try:
            hz = self.hz_for(request)
        except ValueError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            return
        if len(self._subscribers) >= self.config.max_subscribers:
            self.metrics.refused_subscribers.inc()
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"sanctum already serves {self.config.max_subscribers} WatchSnapshots "
                "subscribers (its limit); retry later")
        if request.compressed:
            context.set_compression(grpc.Compression.Gzip)
        sub = _Subscriber(asyncio.current_task(), peer=context.peer() or "")
        self._subscribers.add(sub)
        self.metrics.subscribers.inc()
        try:
            async for data in self._stream(request.run_id, 1.0 / hz, request.incremental):
                sub.writing_since = time.monotonic()
                await context.write(data)
                sub.writing_since = None
        finally:
            self._subscribers.discard(sub)
            self.metrics.subscribers.dec()

    async def _stream(self, run_id: str, interval: float, incremental: bool = False
                      ) -> AsyncIterator[bytes]:
        heartbeat = self.config.heartbeat_s
        sent: tuple[str, int, int] | None = None  # (run, version, build) the client holds
        last_send = last_full = -math.inf
        full_every = self.config.full_snapshot_every_s
        loop = asyncio.get_running_loop()
        while not self._stopping:
            changed = self._wait_target()
            run = self._resolve(run_id)
            if run is not None and (sent is None or sent[:2] != (run.run_id, run.version)):
                cached = self.current(run)
                same_run = sent is not None and sent[0] == run.run_id
                if cached.version != run.version and same_run:
                    # The shared build is behind the run (built < 1/max_hz ago): wait for
                    # the next build instead of sending what is stale and then sleeping a
                    # whole interval with the newer state unsent.
                    await asyncio.sleep(self._rebuild_in(run.run_id))
                    continue
                data = cached.data
                if (incremental and same_run and sent is not None
                        and not (full_every and loop.time() - last_full >= full_every)):
                    data = self.update_bytes(run.run_id, cached, sent[2])
                if data is cached.data:
                    last_full = loop.time()
                else:
                    self.metrics.deltas.inc()
                yield data
                sent = (run.run_id, cached.version, cached.build)
                last_send = loop.time()
                await asyncio.sleep(interval)
                continue
            idle = loop.time() - last_send
            if idle >= heartbeat:
                yield self.heartbeat_bytes(run)
                last_send = loop.time()
                idle = 0.0
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(heartbeat - idle):
                    await changed.wait()
