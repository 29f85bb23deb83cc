"""Deleting runs (DeleteRun, retention) from a live sanctum.

A run is deleted from the store (events, drops, delivery, series index) and every
checkpoint is replaced, in the same transaction, by one captured without it: a restart can
never bring a deleted run back. Its state leaves memory only once that transaction is
committed. A run a producer is still streaming to is refused (it would come back at once).

Retention deletes finished runs (COMPLETED, STOPPED, FAILED) whose last event is older than
`days`, and all but the newest `runs` finished runs; live runs are never touched. It is
applied after the store is replayed and then every `interval_s`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from esper.sanctum.v2 import sanctum_pb2 as spb
from sanctum_svc.aggregator import Aggregator
from sanctum_svc.checkpoint import Checkpointer
from sanctum_svc.checkpointing import CheckpointScheduler
from sanctum_svc.ingest import IngestPipeline
from sanctum_svc.store import EventStore

log = logging.getLogger(__name__)

FINISHED = frozenset({spb.RUN_STATUS_COMPLETED, spb.RUN_STATUS_STOPPED, spb.RUN_STATUS_FAILED})


class RunBusy(Exception):
    """A producer is streaming to the run: deleting it now would not stick."""


@dataclass
class RetentionPolicy:
    """Which finished runs to keep; None: no limit of that kind."""

    days: float | None = None
    runs: int | None = None
    interval_s: float = 3600.0

    @property
    def enabled(self) -> bool:
        return self.days is not None or self.runs is not None


def expired(aggregator: Aggregator, policy: RetentionPolicy, now: float) -> list[str]:
    """Finished runs the policy no longer keeps, oldest first."""
    finished = sorted((r for r in aggregator.runs() if r.state.run.status in FINISHED),
                      key=lambda r: (r.last_event_time or 0.0, r.run_id))
    out: set[str] = set()
    if policy.days is not None:
        cutoff = now - policy.days * 86400
        out.update(r.run_id for r in finished if (r.last_event_time or 0.0) < cutoff)
    if policy.runs is not None and len(finished) > policy.runs:
        out.update(r.run_id for r in finished[:len(finished) - policy.runs])
    return [r.run_id for r in finished if r.run_id in out]


class RunAdmin:
    """Deletes runs of one sanctum; runs its retention policy."""

    def __init__(self, pipeline: IngestPipeline, store: EventStore,
                 checkpoints: Callable[[], CheckpointScheduler | None],
                 on_change: Callable[[], None] = lambda: None) -> None:
        self.pipeline = pipeline
        self.store = store
        self.checkpoints = checkpoints
        self.on_change = on_change
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.deleted_runs = 0

    async def delete(self, run_ids: list[str]) -> int:
        """Delete runs (unknown ids are ignored); the stored events deleted."""
        pipe = self.pipeline
        async with self._lock:
            run_ids = [r for r in dict.fromkeys(run_ids) if pipe.aggregator.get(r) is not None]
            if not run_ids:
                return 0
            busy = [r for r in run_ids if pipe.busy(r)]
            if busy:
                raise RunBusy(f"run {busy[0]!r} is being ingested by a live producer; stop "
                              "it (or wait until its stream ends) before deleting the run")
            sched = self.checkpoints()
            ckpt = None
            runs = [pipe.aggregator.get(r) for r in run_ids]
            held = sum(r.events_applied for r in runs if r is not None)
            if sched is not None:
                checkpointer: Checkpointer = sched.checkpointer
                events = max(0, pipe.events_held - held)
                data = checkpointer.capture(pipe, pipe.through_batch, events,
                                            frozenset(run_ids))
                ckpt = (pipe.through_batch, events, data, time.time(), sched.policy.keep)
            deleted = await pipe.store.call(self.store.delete_runs, run_ids, ckpt)
            for run_id in run_ids:
                pipe.forget_run(run_id)
                if sched is not None:
                    sched.checkpointer.forget(run_id)
            if sched is not None:
                sched.mark_restored(pipe.events_held)
            self.deleted_runs += len(run_ids)
            log.info("deleted %d run(s) (%d stored events): %s", len(run_ids), deleted,
                     ", ".join(run_ids[:10]))
        self.on_change()
        return deleted

    async def apply_retention(self, policy: RetentionPolicy, now: float | None = None) -> int:
        """Delete what the policy no longer keeps; the runs deleted."""
        victims = expired(self.pipeline.aggregator, policy,
                          time.time() if now is None else now)
        victims = [r for r in victims if not self.pipeline.busy(r)]
        if victims:
            await self.delete(victims)
        return len(victims)

    def start_retention(self, policy: RetentionPolicy) -> None:
        if policy.enabled and self._task is None:
            self._task = asyncio.create_task(self._retain(policy))

    async def _retain(self, policy: RetentionPolicy) -> None:
        while True:
            try:
                await self.apply_retention(policy)
            except Exception:  # noqa: BLE001 - retention must not stop; try next time
                log.exception("retention failed; retrying in %.0f s", policy.interval_s)
            await asyncio.sleep(policy.interval_s)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
