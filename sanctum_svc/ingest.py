"""Ingest: validate a batch whole, plan it, persist it, then apply it.

Per (run_id, producer_id) events are applied in seq order exactly once: seq <= the last
applied is a duplicate (counted, ignored; a conflict when its content differs from what was
applied for that seq); seq > last + 1 is applied and the skipped count is recorded as a gap
(never silently filled; a jump past Limits.max_seq_jump is refused). A batch is persisted in
one transaction before anything of it is applied, so it is either fully in (store and state)
or not at all. Replay after a restart goes through the same plan / reserve / apply path.

Three steps, one code path:
1. `submit` validates (sanctum_svc.validate) and plans (sanctum_svc.planner) the batch
   against the *planned* state: a pure computation, so a refused batch changes nothing;
2. it reserves the plan in the planned state and queues the write on the store thread,
   so batch N+1 can be planned while batch N is written;
3. `_committed` applies each batch (aggregator, cursors, delivery stats) only after its own
   commit, in submission order. If a write fails, it and every batch planned on top of it
   are refused (nothing of them applied) and the planned state falls back to the applied one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from esper.telemetry.v1 import telemetry_pb2 as tpb
from sanctum_svc.aggregator import Aggregator, RunAggregator
from sanctum_svc.config import Limits
from sanctum_svc.metrics import Metrics
from sanctum_svc.planner import (
    BatchResult,
    Key,
    Plan,
    PlannedState,
    PlanRefused,
    content_digest,
)
from sanctum_svc.store import BatchRow, EventStore, StoreError
from sanctum_svc.store_thread import AsyncStore, CommitJob
from sanctum_svc.validate import (
    Columns,
    Violation,
    check_batch_size,
    envelope_columns,
    split_events,
    validate_batch,
)

__all__ = ["BatchResult", "IngestPipeline", "InvalidBatch", "Key", "ProducerBusy"]

log = logging.getLogger(__name__)

_TRAINING_STARTED = tpb.EVENT_TYPE_TRAINING_STARTED


class InvalidBatch(Exception):
    """The batch broke a validation rule or a cap; nothing of it was applied.

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


#: A stream that has sent nothing for this long loses its producers to a new stream that
#: writes them. A connection cut without a FIN (a pulled cable, a network partition) leaves
#: the old stream open here until keepalive notices, up to KEEPALIVE_TIME_MS +
#: KEEPALIVE_TIMEOUT_MS; without a takeover the producer's reconnect would be refused as
#: "already streaming" all that time. A live writer sends every send gap while it has
#: events, so two live writers with one producer id still refuse each other.
FENCE_IDLE_S = 5.0


class ProducerBusy(Exception):
    """Another live Ingest stream holds this producer id of this run; nothing was applied."""

    def __init__(self, key: Key) -> None:
        super().__init__(
            f"producer {key[1]!r} of run {key[0]!r} is already streaming on another Ingest "
            "call; one producer id is one writer (give each process its own producer_id)")
        self.key = key


@dataclass(eq=False)
class _Pending:
    events: Sequence[tpb.TelemetryEvent]
    plan: Plan
    received_at: float
    future: asyncio.Future[BatchResult] | asyncio.Future[None]
    started: float


def event_digests(batch_bytes: bytes) -> list[int]:
    """A digest per event of a serialized EventBatch (equal bytes, equal digest)."""
    return list(map(content_digest, split_events(batch_bytes)))


class IngestPipeline:
    """The one path by which events change state: live ingest and store replay."""

    def __init__(self, aggregator: Aggregator, store: AsyncStore, metrics: Metrics,
                 on_change: Callable[[], None] = lambda: None,
                 limits: Limits | None = None) -> None:
        self.aggregator = aggregator
        self.store = store
        self.metrics = metrics
        self.on_change = on_change
        self.limits = limits or Limits()
        #: Last applied seq per producer (what GetResumeCursor reports).
        self._cursors: dict[Key, int] = {}
        self.planned = PlannedState(self._applied_stats, self.limits.counter_max)
        #: Shapes declared by TRAINING_STARTED events still being written.
        self._pending_config: dict[str, tpb.RunConfig] = {}
        #: Bumped whenever a write fails: see store_thread.CommitJob.
        self._epoch = 0
        self._apply_errors: set[int] = set()
        #: Producer -> the stream (owner token) writing it, and the reverse.
        self._fences: dict[Key, object] = {}
        self._owned: dict[object, set[Key]] = {}
        #: Stream -> when it last submitted a batch (time.monotonic()).
        self._last_batch: dict[object, float] = {}
        #: The newest `batches` row whose events are applied, and the events applied so far
        #: (replayed, restored or live): what a checkpoint taken now covers.
        self.through_batch = 0
        self.events_held = 0
        #: Called after each applied batch (periodic checkpoints).
        self.after_apply: Callable[[], None] | None = None
        #: The events the checkpoint restored on replay (None: none was).
        self.restored_events: int | None = None
        #: Count refused events in the runs' delivery stats. Cluster mode turns it off: a
        #: refusal is seen by one replica only and would make replicas' states differ.
        self.count_rejected = True

    def _applied_stats(self, run_id: str):  # noqa: ANN202
        run = self.aggregator.get(run_id)
        return run.delivery if run is not None else None

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

    def applied_cursors(self) -> dict[Key, int]:
        """Last applied seq of every producer (what a checkpoint keeps)."""
        return self._cursors

    def busy(self, run_id: str) -> bool:
        """Whether a live Ingest stream is writing `run_id`."""
        return any(r == run_id for r, _ in self._fences)

    def forget_run(self, run_id: str) -> int:
        """Drop a deleted run's state and bookkeeping; the events it held."""
        run = self.aggregator.get(run_id)
        held = run.events_applied if run is not None else 0
        self.aggregator.remove(run_id)
        self.planned.forget_run(run_id)
        self._cursors = {k: v for k, v in self._cursors.items() if k[0] != run_id}
        self._pending_config.pop(run_id, None)
        self.events_held = max(0, self.events_held - held)
        return held

    def restore_bookkeeping(self, cursors: dict[Key, int], rings: dict[Key, list[int]],
                            groups: dict[str, set[str]], runs: set[str]) -> None:
        """Take a checkpoint's cursors and planning state (sanctum_svc.checkpoint)."""
        self._cursors = dict(cursors)
        self.planned.restore(cursors, rings, groups, runs)

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
               raw: bytes | None = None, owner: object | None = None
               ) -> asyncio.Future[BatchResult]:
        """Validate and plan `batch` now and queue its write; the future resolves once it is
        committed and applied (or raises StoreError, nothing of it applied).

        Raises InvalidBatch at once for a bad batch, ProducerBusy when `owner` (a stream)
        sends for a producer another live stream holds (see `release`). Fields this server
        does not know are discarded; `raw` (the batch's bytes as received) is stored as it
        is when it holds none and every event is new, the re-serialized batch otherwise.
        """
        started = time.perf_counter()
        events, cols, plan, data = self.check(batch, raw)
        if owner is not None:
            self._fence(plan.result.keys, owner)
        now = time.time() if received_at is None else received_at
        rows: list[BatchRow] = []
        if plan.result.applied:
            blob = data() if plan.accepted is None else tpb.EventBatch(
                events=[events[i] for i in plan.accepted]).SerializeToString()
            single = plan.single
            if single is not None:
                rows.append((now, plan.result.applied, *single, blob))
            else:
                rows.append((now, plan.result.applied, None, None, None, None, blob))
            if _TRAINING_STARTED in cols[0]:
                self._note_declarations(events, cols[0], plan)
        self.planned.reserve(plan, events)
        future: asyncio.Future[BatchResult] = asyncio.get_running_loop().create_future()
        stored = events if plan.accepted is None else [events[i] for i in plan.accepted]
        self.store.submit(CommitJob(rows, plan.drops, list(plan.delivery.items()),
                                    self._epoch, self._committed,
                                    _Pending(events, plan, now, future, started),
                                    events=stored if rows else None))
        return future

    def check(self, batch: tpb.EventBatch, raw: bytes | None = None
              ) -> tuple[list[tpb.TelemetryEvent], Columns, Plan, Callable[[], bytes]]:
        """Validate and plan `batch` against the planned state without reserving anything.

        Returns its events, envelope columns, plan and a function giving the bytes to store
        (as received unless unknown fields were dropped). Raises InvalidBatch.
        """
        batch.DiscardUnknownFields()
        events = list(batch.events)
        cols = envelope_columns(events)
        stored: list[bytes] = []

        def data() -> bytes:
            if not stored:
                same = raw is not None and batch.ByteSize() == len(raw)
                stored.append(raw if same and raw is not None else batch.SerializeToString())
            return stored[0]

        # Planning first: it is pure and refuses a flood (caps) before the costlier rules.
        violations = check_batch_size(batch)
        if not violations:
            try:
                plan = self.planned.plan(events, batch.drops, cols,
                                         lambda: event_digests(data()), self.limits)
            except PlanRefused as exc:
                violations = exc.violations
        if not violations:
            violations = validate_batch(batch, self.declared, columns=cols, raw=raw,
                                        events=events, limits=self.limits)
        if violations:
            self.metrics.rejected(len(events))
            accounted = self._count_rejected(cols[1]) if self.count_rejected else None
            raise InvalidBatch(violations, accounted)
        return events, cols, plan, data

    def _fence(self, keys: set[Key], owner: object) -> None:
        """`owner` writes `keys` from now on, unless a stream that is still sending holds
        one (ProducerBusy). A holder silent for FENCE_IDLE_S is taken over."""
        fences, seen = self._fences, self._last_batch
        now = time.monotonic()
        for key in keys:
            holder = fences.get(key, owner)
            if holder is owner:
                continue
            silent = now - seen.get(holder, 0.0)
            if silent < FENCE_IDLE_S:
                raise ProducerBusy(key)
            log.warning("producer %r of run %r: the stream writing it has sent nothing for "
                        "%.0f s (a dead connection?); a new stream takes it over",
                        key[1], key[0], silent)
        seen[owner] = now
        owned = self._owned.setdefault(owner, set())
        for key in keys:
            fences[key] = owner
            owned.add(key)

    def release(self, owner: object) -> None:
        """The stream `owner` ended: its producers are free for another stream."""
        self._last_batch.pop(owner, None)
        for key in self._owned.pop(owner, ()):
            if self._fences.get(key) is owner:
                del self._fences[key]

    def _note_declarations(self, events: Sequence[tpb.TelemetryEvent], types: list[int],
                           plan: Plan) -> None:
        accepted = None if plan.accepted is None else set(plan.accepted)
        for i, t in enumerate(types):
            if t == _TRAINING_STARTED and (accepted is None or i in accepted):
                plan.declares[events[i].run_id] = events[i].training_started.config
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
        if job.last_row is not None:
            self.through_batch = job.last_row
            self.events_held += p.plan.result.applied
        for run_id, cfg in p.plan.declares.items():
            if self._pending_config.get(run_id) is cfg:
                del self._pending_config[run_id]
        self.metrics.batch(p.plan.result, time.perf_counter() - p.started)
        if not p.future.done():
            p.future.set_result(p.plan.result)  # type: ignore[arg-type]
        self.on_change()
        if self.after_apply is not None:
            self.after_apply()

    def _write_failed(self, job: CommitJob) -> None:
        """Forget everything planned on top of the applied state (once per failure)."""
        if job.epoch != self._epoch:
            return  # planned before an earlier failure that already reset the state
        self._epoch += 1
        self.planned.reset(self._cursors)
        self._pending_config.clear()

    def _count_rejected(self, run_ids: list[str]) -> asyncio.Future[None]:
        """Rejected events count against the runs they name, if those runs exist."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        per_run = Counter(r for r in run_ids if self.planned.stats(r) is not None)
        if not per_run:
            future.set_result(None)
            return future
        plan = Plan(BatchResult(), [], {}, {}, delivery=self.planned.add_rejected(per_run))
        self.store.submit(CommitJob([], [], list(plan.delivery.items()), self._epoch,
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

    # -- applying (after the commit) ------------------------------------------------------
    def _apply(self, events: Sequence[tpb.TelemetryEvent], plan: Plan,
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
    def replay(self, store: EventStore, progress: Callable[[int, int], None] | None = None,
               use_checkpoints: bool = True) -> int:
        """Rebuild state from the store before serving (sanctum_svc.replay). Returns the
        events replayed."""
        from sanctum_svc.replay import replay_store

        return replay_store(self, store, progress, use_checkpoints)

    def apply_logged(self, batch: tpb.EventBatch, data: bytes, received_at: float
                     ) -> BatchResult:
        """Apply one batch read back from a replicated log (cluster mode) through the
        replay path: every replica applies the same messages in the same order with the
        same timestamps, so every replica holds the same state."""
        events = list(batch.events)
        plan = self._replan(events, batch.drops, lambda: event_digests(data))
        self._apply(events, plan, received_at)
        self.events_held += plan.result.applied
        self.on_change()
        return plan.result

    async def caught_up(self) -> None:
        """Read-your-writes before a cursor is reported: here every acknowledged batch is
        already applied (cluster mode waits for the replicated log instead)."""

    def _replan(self, events: list[tpb.TelemetryEvent], drops: Sequence[tpb.ProducerDrops],
                digests: Callable[[], list[int]] | None) -> Plan:
        plan = self.planned.plan(events, drops, envelope_columns(events), digests, None)
        self.planned.reserve(plan, events)
        return plan
