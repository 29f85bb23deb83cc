"""Ingest in cluster mode: validate here, publish to JetStream, acknowledge after both
JetStream's ack and this replica's own apply of that message.

The servicer drives this exactly like the single-process IngestPipeline (submit, epoch,
release, cursors): a batch is refused whole by the same planner and rules before anything
is published, and a failed publish surfaces as a transient StoreError (UNAVAILABLE,
"nothing of it was applied, resend it"). Waiting for the local apply gives the producer
read-your-writes: the cursors in its reply already count its batch.
"""

from __future__ import annotations

import asyncio
import time

from esper.telemetry.v1 import telemetry_pb2 as tpb
from sanctum_svc.cluster.log import ClusterError, EventLog
from sanctum_svc.cluster.replica import Replica
from sanctum_svc.ingest import IngestPipeline
from sanctum_svc.metrics import Metrics
from sanctum_svc.planner import BatchResult, Plan
from sanctum_svc.store import StoreError

_TRAINING_STARTED = tpb.EVENT_TYPE_TRAINING_STARTED
#: Seconds an acknowledged batch may take to come back through the local consumer.
APPLY_TIMEOUT_S = 20.0


class ClusterPipeline:
    """The Ingest side of one replica, over the local pipeline that applies the log."""

    def __init__(self, local: IngestPipeline, events: EventLog, replica: Replica) -> None:
        self.local = local
        local.count_rejected = False  # see IngestPipeline.count_rejected
        self.events = events
        self.replica = replica
        self._epoch = 0
        self.published = 0
        #: Per Ingest stream (owner), the publish of its latest batch: True once stored.
        #: A stream's batches are published strictly one after the other, in order: were
        #: batch N+1 stored before N, N would be applied as a duplicate of the newer seqs.
        self._last: dict[object, asyncio.Future[bool]] = {}

    @property
    def metrics(self) -> Metrics:
        return self.local.metrics

    @property
    def epoch(self) -> int:
        """Bumped whenever a publish fails (see IngestPipeline.epoch)."""
        return self._epoch

    def cursor(self, run_id: str, producer_id: str) -> int:
        return self.local.cursor(run_id, producer_id)

    def cursors(self, run_id: str) -> list[tuple[str, int]]:
        return self.local.cursors(run_id)

    def release(self, owner: object) -> None:
        self.local.release(owner)
        self._last.pop(owner, None)

    async def caught_up(self) -> None:
        """Everything JetStream acknowledged (from any replica) is applied here."""
        try:
            await self.replica.caught_up(APPLY_TIMEOUT_S)
        except ClusterError as exc:
            raise StoreError(str(exc), transient=True) from None

    def submit(self, batch: tpb.EventBatch, received_at: float | None = None,
               raw: bytes | None = None, owner: object | None = None
               ) -> asyncio.Future[BatchResult]:
        """Validate now (InvalidBatch, ProducerBusy as the local pipeline raises them);
        the future resolves once the batch is in JetStream and applied here."""
        local = self.local
        events, cols, plan, data = local.check(batch, raw)
        if owner is not None:
            local._fence(plan.result.keys, owner)
        if _TRAINING_STARTED in cols[0]:  # later batches of the stream see the declaration
            local._note_declarations(events, cols[0], plan)
        started = time.perf_counter()
        previous = self._last.get(owner) if owner is not None else None
        stored: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        if owner is not None:
            self._last[owner] = stored
        return asyncio.ensure_future(
            self._publish(batch, data(), plan, started, previous, stored))

    async def _publish(self, batch: tpb.EventBatch, data: bytes, plan: Plan,
                       started: float, previous: asyncio.Future[bool] | None,
                       stored: asyncio.Future[bool]) -> BatchResult:
        n = len(batch.events)
        try:
            if previous is not None and not await asyncio.shield(previous):
                raise ClusterError("an earlier batch of this stream was not stored")
            ack, retried = await self.events.publish(batch, data)
            stored.set_result(True)
            await self.replica.wait_applied(ack.seq, APPLY_TIMEOUT_S)
        except ClusterError as exc:
            self._epoch += 1
            raise StoreError(str(exc), transient=True) from None
        finally:
            if not stored.done():  # failed or cancelled: later batches must not follow
                stored.set_result(False)
            pending = self.local._pending_config
            for run_id, cfg in plan.declares.items():
                if pending.get(run_id) is cfg:  # applied now, or never published
                    del pending[run_id]
        self.published += 1
        result = self.replica.result(ack.seq)
        if (ack.duplicate and not retried) or result is None:
            # Stored before (a resend after a fail-over): nothing new was applied. After a
            # failed attempt a duplicate ack may be that attempt's: its result is ours.
            result = BatchResult(received=n, duplicate=n, keys={
                (ev.run_id, ev.producer_id) for ev in batch.events})
        self.metrics.batch(result, time.perf_counter() - started)
        return result
