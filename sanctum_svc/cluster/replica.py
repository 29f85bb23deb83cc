"""Apply the replicated log to this process's aggregator, in stream order, exactly once.

Each replica reads the stream with its own ephemeral, in-memory pull consumer that starts
after the last message it applied. Any error (a NATS server died, the consumer vanished)
drops the consumer and makes a new one at `applied + 1`: the stream sequence, not the
consumer, is the position, so nothing is skipped and nothing is applied twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
from collections.abc import Callable
from typing import Any

from nats.errors import TimeoutError as NatsTimeout
from nats.js import api
from prometheus_client import Counter, Gauge

from esper.telemetry.v1 import telemetry_pb2 as tpb
from sanctum_svc.cluster.log import STREAM, SUBJECT_PREFIX, ClusterError, EventLog
from sanctum_svc.ingest import IngestPipeline
from sanctum_svc.planner import BatchResult

log = logging.getLogger(__name__)

#: Messages per pull request.
FETCH_BATCH = 256
#: Seconds a pull waits for new messages before asking again.
FETCH_WAIT_S = 0.5
#: Idle pulls between checks that the consumer still exists.
PROBE_EVERY = 10


class Replica:
    """The consuming side: `applied` is the last stream sequence in the aggregator."""

    def __init__(self, events: EventLog, pipeline: IngestPipeline,
                 on_applied: Callable[[int], None] = lambda seq: None) -> None:
        self.events = events
        self.pipeline = pipeline
        self.on_applied = on_applied
        self.applied = 0
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._tie = itertools.count()
        self._results: dict[int, BatchResult] = {}
        self._task: asyncio.Task[None] | None = None
        self._stop = False
        #: Messages the stream no longer held when this replica needed them (retention).
        self.skipped = 0
        r = pipeline.metrics.registry
        self._m_applied = Gauge("sanctum_cluster_applied_seq",
                                "Last stream message applied by this replica", registry=r)
        self._m_restarts = Counter("sanctum_cluster_consumer_restarts",
                                   "Stream consumers re-created after an error", registry=r)
        self._m_skipped = Counter("sanctum_cluster_skipped_messages",
                                  "Stream messages gone (retention) before this replica "
                                  "applied them", registry=r)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="cluster-replica")

    async def close(self) -> None:
        self._stop = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    # -- waiting ----------------------------------------------------------------------------
    async def wait_applied(self, seq: int, timeout: float) -> None:
        """Return once stream message `seq` is applied here; ClusterError on timeout."""
        if seq <= self.applied:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (seq, next(self._tie), future))
        try:
            await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise ClusterError(f"this replica has not applied stream message {seq} within "
                               f"{timeout:g} s (applied {self.applied})") from None

    def result(self, seq: int) -> BatchResult | None:
        """What applying message `seq` did (kept for the waiters that published it)."""
        return self._results.pop(seq, None)

    async def caught_up(self, timeout: float) -> None:
        """Read-your-writes: wait until everything JetStream acknowledged is applied."""
        await self.wait_applied(await self.events.last_seq(), timeout)

    def _wake(self) -> None:
        while self._waiters and self._waiters[0][0] <= self.applied:
            _, _, future = heapq.heappop(self._waiters)
            if not future.done():
                future.set_result(None)

    # -- consuming --------------------------------------------------------------------------
    async def _run(self) -> None:
        while not self._stop:
            sub = None
            try:
                sub = await self._subscribe()
                idle = 0
                while not self._stop:
                    try:
                        msgs = await sub.fetch(FETCH_BATCH, timeout=FETCH_WAIT_S)
                    except NatsTimeout:
                        idle += 1
                        await self._check_stalled(sub, idle)
                        continue
                    idle = 0
                    for msg in msgs:
                        self._apply(msg)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a server went away: start again after `applied`
                log.info("cluster consumer restarting after message %d: %s", self.applied,
                         exc or type(exc).__name__)
                self._m_restarts.inc()
                await asyncio.sleep(0.2)
            finally:
                if sub is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(sub.unsubscribe(), 1)

    async def _check_stalled(self, sub: Any, idle: int) -> None:
        """Raise (so the consumer is re-created) when it delivers nothing although a stream
        message is awaited, or when it is gone (its server died): probed every PROBE_EVERY
        idle fetches, so a replica nobody writes through still notices."""
        if self._waiters and self._waiters[0][0] > self.applied and idle >= 2:
            raise ClusterError(f"message {self._waiters[0][0]} exists but was not delivered")
        if idle % PROBE_EVERY == 0:
            await sub.consumer_info()  # raises when the consumer no longer exists

    async def _subscribe(self) -> Any:
        js = self.events.js
        if js is None:
            raise ClusterError("not connected")
        start = self.applied + 1
        config = api.ConsumerConfig(
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start,
            ack_policy=api.AckPolicy.NONE, mem_storage=True, num_replicas=1,
            inactive_threshold=30.0, max_waiting=4)
        return await js.pull_subscribe(f"{SUBJECT_PREFIX}.>", stream=STREAM, config=config)

    def _apply(self, msg: Any) -> None:
        seq = int(msg.metadata.sequence.stream)
        if seq <= self.applied:
            return  # a restarted consumer may repeat what was in flight
        if seq != self.applied + 1:
            self.skipped += seq - self.applied - 1
            self._m_skipped.inc(seq - self.applied - 1)
            log.error("stream messages %d..%d are gone (retention) and were not applied "
                      "here: this replica's state misses them", self.applied + 1, seq - 1)
        data = bytes(msg.data)
        received_at = msg.metadata.timestamp.timestamp()
        try:
            batch = tpb.EventBatch.FromString(data)
            result = self.pipeline.apply_logged(batch, data, received_at)
        except Exception:  # a batch was validated before it was published: a bug
            log.exception("stream message %d could not be applied", seq)
            result = None
        self.applied = seq
        self._m_applied.set(seq)
        if result is not None:
            self._results[seq] = result
            if len(self._results) > 4096:  # results nobody waits for (other replicas' ingest)
                self._results.pop(next(iter(self._results)))
        self._wake()
        self.on_applied(seq)
