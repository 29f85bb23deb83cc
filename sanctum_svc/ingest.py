"""Ingest: validate a batch whole, deduplicate per producer, persist, then apply.

Per (run_id, producer_id) events are applied in seq order exactly once: seq <= the last
applied is a duplicate (counted, ignored); seq > last + 1 is applied and the skipped count
is recorded as a gap (never silently filled). A batch is persisted in one transaction
before anything of it is applied, so a batch is either fully in (store and state) or not at
all. Replay after a restart goes through the same `_plan` / `_apply` path.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from esper.sanctum.v1 import sanctum_pb2 as spb
from esper.telemetry.v1 import telemetry_pb2 as tpb
from sanctum_svc.aggregator import Aggregator, RunAggregator
from sanctum_svc.metrics import Metrics
from sanctum_svc.store import AsyncStore, DeliveryRow, DropRow, EventRow, EventStore
from sanctum_svc.validate import Violation, validate_batch

log = logging.getLogger(__name__)

Key = tuple[str, str]


class InvalidBatch(Exception):
    """The batch broke a validation rule; nothing of it was applied."""

    def __init__(self, violations: list[Violation]) -> None:
        first = violations[0]
        more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
        super().__init__(f"invalid batch: {first.field}: {first.description}{more}")
        self.violations = violations


@dataclass
class BatchResult:
    """What one accepted batch did."""

    received: int = 0
    applied: int = 0
    duplicate: int = 0
    gaps: int = 0
    keys: set[Key] = field(default_factory=set)


@dataclass
class _Plan:
    """A classified batch, ready to persist and apply."""

    result: BatchResult
    accepted: list[int]                     # indices into the batch's events
    cursors: dict[Key, int]                 # last seq per producer after the batch
    delivery: dict[str, spb.DeliveryStats]  # post-batch delivery stats per touched run
    drops: list[DropRow]


class IngestPipeline:
    """The one path by which events change state: live ingest and store replay."""

    def __init__(self, aggregator: Aggregator, store: AsyncStore, metrics: Metrics,
                 on_change: Callable[[], None] = lambda: None) -> None:
        self.aggregator = aggregator
        self.store = store
        self.metrics = metrics
        self.on_change = on_change
        self._cursors: dict[Key, int] = {}
        self._producer_index: dict[Key, int] = {}
        self._lock = asyncio.Lock()
        self._apply_errors: set[int] = set()

    # -- queries --------------------------------------------------------------------------
    def declared(self, run_id: str) -> tpb.RunConfig | None:
        run = self.aggregator.get(run_id)
        return run.config if run is not None else None

    def cursor(self, run_id: str, producer_id: str) -> int:
        return self._cursors.get((run_id, producer_id), 0)

    def cursors(self, run_id: str) -> list[tuple[str, int]]:
        return sorted((p, s) for (r, p), s in self._cursors.items() if r == run_id)

    # -- live ingest ----------------------------------------------------------------------
    async def ingest(self, batch: tpb.EventBatch, received_at: float | None = None
                     ) -> BatchResult:
        """Validate, persist and apply one batch. Raises InvalidBatch or StoreError."""
        started = time.perf_counter()
        events = batch.events
        serialized = [ev.SerializeToString() for ev in events]
        violations = validate_batch(batch, self.declared, serialized)
        if violations:
            await self._count_rejected(batch)
            self.metrics.rejected(len(events))
            raise InvalidBatch(violations)
        async with self._lock:
            now = time.time() if received_at is None else received_at
            plan = self._plan(events, batch.drops)
            rows: list[EventRow] = [
                (events[i].run_id, events[i].producer_id, events[i].seq, now, serialized[i])
                for i in plan.accepted]
            delivery: list[DeliveryRow] = [
                (run_id, stats.SerializeToString()) for run_id, stats in plan.delivery.items()]
            await self.store.commit(rows, plan.drops, delivery)
            self._apply(events, plan, now)
        self.metrics.batch(plan.result, time.perf_counter() - started)
        self.on_change()
        return plan.result

    async def _count_rejected(self, batch: tpb.EventBatch) -> None:
        """Rejected events count against the runs they name, if those runs exist."""
        per_run: dict[str, int] = {}
        for ev in batch.events:
            if self.aggregator.get(ev.run_id) is not None:
                per_run[ev.run_id] = per_run.get(ev.run_id, 0) + 1
        if not per_run:
            return
        async with self._lock:
            rows = []
            for run_id, n in per_run.items():
                run = self.aggregator.get(run_id)
                assert run is not None
                stats = spb.DeliveryStats()
                stats.CopyFrom(run.delivery)
                stats.events_received += n
                stats.events_rejected += n
                rows.append((run, stats))
            try:
                await self.store.commit([], [], [(r.run_id, s.SerializeToString())
                                                 for r, s in rows])
            except Exception as exc:  # accounting only: the rejection itself still stands
                log.warning("could not persist rejected-event counts: %s", exc)
            for run, stats in rows:
                run.delivery.CopyFrom(stats)
                run.touch()
        self.on_change()

    # -- the shared path ------------------------------------------------------------------
    def _plan(self, events: Iterable[tpb.TelemetryEvent],
              drops: Iterable[tpb.ProducerDrops]) -> _Plan:
        """Classify events (new / duplicate / gap) and compute post-batch delivery stats."""
        result = BatchResult()
        cursors: dict[Key, int] = {}
        delivery: dict[str, spb.DeliveryStats] = {}
        accepted: list[int] = []

        def stats_for(run_id: str) -> spb.DeliveryStats:
            stats = delivery.get(run_id)
            if stats is None:
                stats = spb.DeliveryStats()
                run = self.aggregator.get(run_id)
                if run is not None:
                    stats.CopyFrom(run.delivery)
                delivery[run_id] = stats
            return stats

        def producer(stats: spb.DeliveryStats, key: Key) -> spb.ProducerDelivery:
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

        for i, ev in enumerate(events):
            key = (ev.run_id, ev.producer_id)
            last = cursors.get(key)
            if last is None:
                last = self._cursors.get(key, 0)
            stats = stats_for(ev.run_id)
            prod = producer(stats, key)
            stats.events_received += 1
            result.received += 1
            result.keys.add(key)
            seq = ev.seq
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
            cursors[key] = seq
            accepted.append(i)

        drop_rows: list[DropRow] = []
        for d in drops:
            key = (d.run_id, d.producer_id)
            stats = stats_for(d.run_id)
            prod = producer(stats, key)
            if d.dropped_total > prod.dropped_total:
                stats.producer_dropped += d.dropped_total - prod.dropped_total
                prod.dropped_total = d.dropped_total
                drop_rows.append((d.run_id, d.producer_id, d.dropped_total))
        return _Plan(result, accepted, cursors, delivery, drop_rows)

    def _apply(self, events: list[tpb.TelemetryEvent] | object, plan: _Plan,
               received_at: float | list[float]) -> None:
        """Apply accepted events, then publish the new delivery stats and cursors."""
        get_run = self.aggregator.get_or_create
        runs: dict[str, RunAggregator] = {}
        for n, i in enumerate(plan.accepted):
            ev = events[i]  # type: ignore[index]
            run = runs.get(ev.run_id)
            if run is None:
                run = runs[ev.run_id] = get_run(ev.run_id)
            at = received_at if isinstance(received_at, float) else received_at[n]
            try:
                run.apply(ev, at)
            except Exception:  # a handler bug must not take ingest down; say so loudly
                if ev.event_type not in self._apply_errors:
                    self._apply_errors.add(ev.event_type)
                    log.exception("applying %s (seq %d of %s/%s) failed",
                                  tpb.EventType.Name(ev.event_type), ev.seq, ev.run_id,
                                  ev.producer_id)
                self.metrics.apply_error()
        for run_id, stats in plan.delivery.items():
            run = runs.get(run_id) or get_run(run_id)
            run.delivery.CopyFrom(stats)
            run.touch()
        self._cursors.update(plan.cursors)

    # -- replay ---------------------------------------------------------------------------
    def replay(self, store: EventStore, progress: Callable[[int, int], None] | None = None
               ) -> int:
        """Rebuild state from the store (synchronously, before serving). Returns events."""
        total = store.count()
        done = 0
        parse = tpb.TelemetryEvent.FromString
        for chunk in store.replay():
            events = [parse(data) for _, data in chunk]
            plan = self._plan(events, ())
            times = [chunk[i][0] for i in plan.accepted]
            self._apply(events, plan, times)
            done += len(chunk)
            if progress is not None:
                progress(done, total)
        drops = [tpb.ProducerDrops(run_id=r, producer_id=p, dropped_total=t)
                 for r, p, t in store.drops()]
        if drops:
            self._apply([], self._plan((), drops), 0.0)
        # Counters only the live path knows (received, duplicate, rejected) were persisted
        # with every batch: restore them verbatim.
        for run_id, data in store.deliveries().items():
            run = self.aggregator.get_or_create(run_id)
            run.delivery.CopyFrom(spb.DeliveryStats.FromString(data))
            run.touch()
            for idx, prod in enumerate(run.delivery.producers):
                self._producer_index[(run_id, prod.producer_id)] = idx
        return done
