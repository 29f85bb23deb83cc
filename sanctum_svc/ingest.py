"""Ingest: validate a batch whole, deduplicate per producer, persist, then apply.

Per (run_id, producer_id) events are applied in seq order exactly once: seq <= the last
applied is a duplicate (counted, ignored); seq > last + 1 is applied and the skipped count
is recorded as a gap (never silently filled). A batch is persisted in one transaction
before anything of it is applied, so a batch is either fully in (store and state) or not at
all. Replay after a restart goes through the same `_plan` / `_apply` path.

Pipelining: `submit` validates and plans a batch synchronously on the event loop against
the *planned* state (applied batches plus those still being written), queues its write on
the store thread and returns a future. While batch N is written, batch N+1 can already be
validated. Writes complete in submission order and each batch is applied (and its future
resolved) only after its own commit, by the store's completion callback, in that order. If a
write fails, it and every batch planned on top of it are refused (nothing of them applied)
and the planned state falls back to the applied one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.telemetry.v1 import telemetry_pb2 as tpb
from sanctum_svc.aggregator import Aggregator, RunAggregator
from sanctum_svc.metrics import Metrics
from sanctum_svc.store import (
    AsyncStore,
    BatchRow,
    CommitJob,
    DropRow,
    EventStore,
    StoreError,
)
from sanctum_svc.validate import Columns, Violation, envelope_columns, validate_batch

log = logging.getLogger(__name__)

Key = tuple[str, str]

_TRAINING_STARTED = tpb.EVENT_TYPE_TRAINING_STARTED


class InvalidBatch(Exception):
    """The batch broke a validation rule; nothing of it was applied.

    `accounted` resolves once the rejected-event counts are recorded (await it before
    telling the client, so its next snapshot already shows them).
    """

    def __init__(self, violations: list[Violation],
                 accounted: asyncio.Future[None] | None = None) -> None:
        first = violations[0]
        more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
        super().__init__(f"invalid batch: {first.field}: {first.description}{more}")
        self.violations = violations
        self.accounted = accounted


@dataclass
class BatchResult:
    """What one accepted batch did."""

    received: int = 0
    applied: int = 0
    duplicate: int = 0
    gaps: int = 0
    keys: set[Key] = field(default_factory=set)


@dataclass(eq=False)
class _Plan:
    """A classified batch, ready to persist and apply."""

    result: BatchResult
    accepted: list[int] | None              # indices into the batch's events; None = all
    cursors: dict[Key, int]                 # last seq per producer after the batch
    delivery: dict[str, bytes]              # post-batch DeliveryStats per touched run
    drops: list[DropRow]
    #: All events accepted and from one producer: (run_id, producer_id, first, last seq).
    single: tuple[str, str, int, int] | None = None
    #: RunConfig declared by the batch's accepted TRAINING_STARTED events, per run.
    declares: dict[str, tpb.RunConfig] = field(default_factory=dict)


@dataclass(eq=False)
class _Pending:
    events: Sequence[tpb.TelemetryEvent]
    plan: _Plan
    received_at: float
    future: asyncio.Future[BatchResult] | asyncio.Future[None]
    started: float


class IngestPipeline:
    """The one path by which events change state: live ingest and store replay."""

    def __init__(self, aggregator: Aggregator, store: AsyncStore, metrics: Metrics,
                 on_change: Callable[[], None] = lambda: None) -> None:
        self.aggregator = aggregator
        self.store = store
        self.metrics = metrics
        self.on_change = on_change
        #: Last applied seq per producer (what GetResumeCursor reports).
        self._cursors: dict[Key, int] = {}
        #: Last seq per producer counting batches still being written (dedupe uses this).
        self._planned: dict[Key, int] = {}
        #: Delivery stats per run after the last planned batch (copied from the applied
        #: ones on first use), and producer_id -> index into their `producers`.
        self._planned_delivery: dict[str, spb.DeliveryStats] = {}
        self._producer_index: dict[Key, int] = {}
        #: Shapes declared by TRAINING_STARTED events still being written.
        self._pending_config: dict[str, tpb.RunConfig] = {}
        #: Bumped whenever a write fails: see store.CommitJob.
        self._epoch = 0
        self._apply_errors: set[int] = set()

    # -- queries --------------------------------------------------------------------------
    @property
    def epoch(self) -> int:
        """Bumped whenever a write fails. A stream whose batches are still in flight must
        wait for them before sending more once this changes: any of them may be refused,
        and a later batch would then be planned past the hole."""
        return self._epoch

    def declared(self, run_id: str) -> tpb.RunConfig | None:
        cfg = self._pending_config.get(run_id)
        if cfg is not None:
            return cfg
        run = self.aggregator.get(run_id)
        return run.config if run is not None else None

    def cursor(self, run_id: str, producer_id: str) -> int:
        return self._cursors.get((run_id, producer_id), 0)

    def cursors(self, run_id: str) -> list[tuple[str, int]]:
        return sorted((p, s) for (r, p), s in self._cursors.items() if r == run_id)

    # -- live ingest ----------------------------------------------------------------------
    async def ingest(self, batch: tpb.EventBatch, received_at: float | None = None,
                     raw: bytes | None = None) -> BatchResult:
        """Validate, persist and apply one batch. Raises InvalidBatch or StoreError."""
        try:
            future = self.submit(batch, received_at, raw)
        except InvalidBatch as exc:
            if exc.accounted is not None:
                await exc.accounted
            raise
        return await future

    def submit(self, batch: tpb.EventBatch, received_at: float | None = None,
               raw: bytes | None = None) -> asyncio.Future[BatchResult]:
        """Validate and plan `batch` now and queue its write; the future resolves once it is
        committed and applied (or raises StoreError, nothing of it applied).

        Raises InvalidBatch at once for a bad batch. `raw` is the batch's serialized bytes
        as received, stored as they are when every event is new.
        """
        started = time.perf_counter()
        events = list(batch.events)
        cols = envelope_columns(events)
        violations = validate_batch(batch, self.declared, columns=cols, raw=raw, events=events)
        if violations:
            self.metrics.rejected(len(events))
            raise InvalidBatch(violations, self._count_rejected(cols[1]))
        now = time.time() if received_at is None else received_at
        plan = self._plan(events, batch.drops, cols)
        rows: list[BatchRow] = []
        if plan.result.applied:
            if plan.accepted is None:
                data = raw if raw is not None else batch.SerializeToString()
            else:
                data = tpb.EventBatch(
                    events=[events[i] for i in plan.accepted]).SerializeToString()
            single = plan.single
            if single is not None:
                rows.append((now, plan.result.applied, *single, data))
            else:
                rows.append((now, plan.result.applied, None, None, None, None, data))
            if _TRAINING_STARTED in cols[0]:
                self._note_declarations(events, cols, plan)
        future: asyncio.Future[BatchResult] = asyncio.get_running_loop().create_future()
        self.store.submit(CommitJob(rows, plan.drops, list(plan.delivery.items()),
                                    self._epoch, self._committed,
                                    _Pending(events, plan, now, future, started)))
        return future

    def _note_declarations(self, events: Sequence[tpb.TelemetryEvent], cols: Columns,
                           plan: _Plan) -> None:
        accepted = None if plan.accepted is None else set(plan.accepted)
        for i, t in enumerate(cols[0]):
            if t == _TRAINING_STARTED and (accepted is None or i in accepted):
                plan.declares[cols[1][i]] = events[i].training_started.config
        self._pending_config.update(plan.declares)

    def _committed(self, job: CommitJob, error: StoreError | None) -> None:
        """The store thread's verdict on one batch (on the loop, in submission order)."""
        p: _Pending = job.context
        if error is not None:
            self._write_failed(job)
            if not p.future.done():
                p.future.set_exception(error)
            return
        self._apply(p.events, p.plan, p.received_at)
        for run_id, cfg in p.plan.declares.items():
            if self._pending_config.get(run_id) is cfg:
                del self._pending_config[run_id]
        self.metrics.batch(p.plan.result, time.perf_counter() - p.started)
        if not p.future.done():
            p.future.set_result(p.plan.result)  # type: ignore[arg-type]
        self.on_change()

    def _write_failed(self, job: CommitJob) -> None:
        """Forget everything planned on top of the applied state (once per failure)."""
        if job.epoch != self._epoch:
            return  # planned before an earlier failure that already reset the state
        self._epoch += 1
        self._planned = dict(self._cursors)
        self._planned_delivery.clear()
        self._producer_index.clear()
        self._pending_config.clear()

    def _count_rejected(self, run_ids: list[str]) -> asyncio.Future[None]:
        """Rejected events count against the runs they name, if those runs exist."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        per_run = Counter(r for r in run_ids
                          if r in self._planned_delivery or self.aggregator.get(r) is not None)
        if not per_run:
            future.set_result(None)
            return future
        delivery: dict[str, bytes] = {}
        for run_id, n in per_run.items():
            stats = self._stats_for(run_id)
            stats.events_received += n
            stats.events_rejected += n
            delivery[run_id] = stats.SerializeToString()
        plan = _Plan(BatchResult(), [], {}, delivery, [])
        self.store.submit(CommitJob([], [], list(delivery.items()), self._epoch,
                                    self._accounted,
                                    _Pending((), plan, 0.0, future, time.perf_counter())))
        return future

    def _accounted(self, job: CommitJob, error: StoreError | None) -> None:
        p: _Pending = job.context
        if error is None:
            self._apply_delivery(p.plan.delivery)
            self.on_change()
        else:  # accounting only: the rejection itself still stands
            log.warning("could not persist rejected-event counts: %s", error)
            self._write_failed(job)
        if not p.future.done():
            p.future.set_result(None)

    # -- the shared path ------------------------------------------------------------------
    def _stats_for(self, run_id: str) -> spb.DeliveryStats:
        stats = self._planned_delivery.get(run_id)
        if stats is None:
            stats = spb.DeliveryStats()
            run = self.aggregator.get(run_id)
            if run is not None:
                stats.CopyFrom(run.delivery)
            self._planned_delivery[run_id] = stats
        return stats

    def _producer(self, stats: spb.DeliveryStats, key: Key) -> spb.ProducerDelivery:
        idx = self._producer_index.get(key)
        if idx is None or idx >= len(stats.producers):
            for idx, p in enumerate(stats.producers):  # noqa: B007
                if p.producer_id == key[1]:
                    break
            else:
                stats.producers.add(producer_id=key[1])
                idx = len(stats.producers) - 1
            self._producer_index[key] = idx
        return stats.producers[idx]

    def _plan(self, events: Sequence[tpb.TelemetryEvent], drops: Sequence[tpb.ProducerDrops],
              cols: Columns) -> _Plan:
        """Classify events (new / duplicate / gap), advance the planned cursors and compute
        post-batch delivery stats. One producer sending consecutive new seqs (the common
        case) costs a few list operations, not a loop over the events."""
        _, run_ids, producer_ids, seqs = cols
        n = len(seqs)
        planned = self._planned
        touched: dict[str, spb.DeliveryStats] = {}
        if n:
            r0, p0, s0 = run_ids[0], producer_ids[0], seqs[0]
            key = (r0, p0)
            last = planned.get(key, 0)
            s1 = seqs[-1]
            if (s0 > last and s1 == s0 + n - 1 and run_ids.count(r0) == n
                    and producer_ids.count(p0) == n
                    and (n <= 2 or seqs == list(range(s0, s1 + 1)))):
                stats = touched[r0] = self._stats_for(r0)
                prod = self._producer(stats, key)
                gap = s0 - last - 1
                stats.events_received += n
                stats.events_applied += n
                prod.events_applied += n
                prod.last_seq = s1
                if gap:
                    stats.gap_events += gap
                    prod.gap_events += gap
                planned[key] = s1
                plan = _Plan(BatchResult(n, n, 0, gap, {key}), None, {key: s1}, {}, [],
                             (r0, p0, s0, s1))
                return self._finish_plan(plan, drops, touched)
        result = BatchResult()
        cursors: dict[Key, int] = {}
        accepted: list[int] = []
        for i in range(n):
            run_id = run_ids[i]
            key = (run_id, producer_ids[i])
            last = planned.get(key, 0)
            stats = touched.get(run_id)
            if stats is None:
                stats = touched[run_id] = self._stats_for(run_id)
            prod = self._producer(stats, key)
            stats.events_received += 1
            result.received += 1
            result.keys.add(key)
            seq = seqs[i]
            if seq <= last:
                stats.events_duplicate += 1
                prod.events_duplicate += 1
                result.duplicate += 1
                continue
            gap = seq - last - 1
            if gap:
                stats.gap_events += gap
                prod.gap_events += gap
                result.gaps += gap
            stats.events_applied += 1
            prod.events_applied += 1
            prod.last_seq = seq
            result.applied += 1
            planned[key] = cursors[key] = seq
            accepted.append(i)
        plan = _Plan(result, accepted, cursors, {}, [])
        if len(cursors) == 1 and len(accepted) == n:
            (r, p), = cursors
            plan.single = (r, p, seqs[0], seqs[-1])
        if len(accepted) == n:
            plan.accepted = None
        return self._finish_plan(plan, drops, touched)

    def _finish_plan(self, plan: _Plan, drops: Sequence[tpb.ProducerDrops],
                     touched: dict[str, spb.DeliveryStats]) -> _Plan:
        """Fold in the drop reports and serialize the touched runs' delivery stats."""
        for d in drops:
            key = (d.run_id, d.producer_id)
            stats = touched.get(d.run_id)
            if stats is None:
                stats = touched[d.run_id] = self._stats_for(d.run_id)
            prod = self._producer(stats, key)
            if d.dropped_total > prod.dropped_total:
                stats.producer_dropped += d.dropped_total - prod.dropped_total
                prod.dropped_total = d.dropped_total
                plan.drops.append((d.run_id, d.producer_id, d.dropped_total))
        plan.delivery = {run_id: s.SerializeToString() for run_id, s in touched.items()}
        return plan

    def _apply(self, events: Sequence[tpb.TelemetryEvent], plan: _Plan,
               received_at: float | list[float]) -> None:
        """Apply accepted events, then publish the new delivery stats and cursors."""
        get_run = self.aggregator.get_or_create
        if plan.single is not None and isinstance(received_at, float):
            failures = get_run(plan.single[0]).apply_many(events, received_at)
        else:
            failures = []
            runs: dict[str, RunAggregator] = {}
            indices = range(len(events)) if plan.accepted is None else plan.accepted
            for n, i in enumerate(indices):
                ev = events[i]
                run = runs.get(ev.run_id)
                if run is None:
                    run = runs[ev.run_id] = get_run(ev.run_id)
                at = received_at if isinstance(received_at, float) else received_at[n]
                failures += run.apply_many((ev,), at)
        for ev, _exc in failures:  # a handler bug must not take ingest down; say so loudly
            if ev.event_type not in self._apply_errors:
                self._apply_errors.add(ev.event_type)
                log.error("applying %s (seq %d of %s/%s) failed",
                          tpb.EventType.Name(ev.event_type), ev.seq, ev.run_id,
                          ev.producer_id, exc_info=_exc)
            self.metrics.apply_error()
        self._apply_delivery(plan.delivery)
        self._cursors.update(plan.cursors)

    def _apply_delivery(self, delivery: dict[str, bytes]) -> None:
        get_run = self.aggregator.get_or_create
        for run_id, data in delivery.items():
            run = get_run(run_id)
            run.delivery.ParseFromString(data)
            run.touch()

    # -- replay ---------------------------------------------------------------------------
    def replay(self, store: EventStore, progress: Callable[[int, int], None] | None = None
               ) -> int:
        """Rebuild state from the store (synchronously, before serving). Returns events."""
        total = store.count()
        done = 0
        parse = tpb.TelemetryEvent.FromString
        for chunk in store.replay_legacy():
            events = [parse(data) for _, data in chunk]
            plan = self._plan(events, (), envelope_columns(events))
            indices = range(len(events)) if plan.accepted is None else plan.accepted
            self._apply(events, plan, [chunk[i][0] for i in indices])
            done += len(chunk)
            if progress is not None:
                progress(done, total)
        parse_batch = tpb.EventBatch.FromString
        for chunk in store.replay():
            for received_at, data in chunk:
                batch = parse_batch(data)
                events = batch.events
                self._apply(events, self._plan(events, batch.drops, envelope_columns(events)),
                            received_at)
                done += len(events)
            if progress is not None:
                progress(done, total)
        drops = [tpb.ProducerDrops(run_id=r, producer_id=p, dropped_total=t)
                 for r, p, t in store.drops()]
        if drops:
            self._apply([], self._plan((), drops, envelope_columns(())), 0.0)
        # Counters only the live path knows (received, duplicate, rejected) were persisted
        # with every batch: restore them verbatim.
        for run_id, data in store.deliveries().items():
            run = self.aggregator.get_or_create(run_id)
            run.delivery.ParseFromString(data)
            run.touch()
        self._planned = dict(self._cursors)
        self._planned_delivery.clear()
        self._producer_index.clear()
        return done
