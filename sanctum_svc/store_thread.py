"""The store's own thread: EventStore calls run there, in submission order.

SQLite calls block, so `AsyncStore` runs them on one dedicated thread: the event loop never
waits on the disk, and batches queued while a transaction is running are written together
in the next one (group commit). A write that fails for a reason of its own (not transient)
is retried alone, so only the batch that caused it, and the ones planned on top of it, are
refused.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sanctum_svc.store import BatchRow, DeliveryRow, DropRow, EventStore, StoreError

T = TypeVar("T")


@dataclass(eq=False)
class CommitJob:
    """One batch's rows, queued for the store thread.

    `epoch` ties the job to the ingest state it was planned on: once a write fails, every
    job of that epoch or older still queued behind it is refused without writing (it was
    planned on top of the failed batch); ingest starts a new epoch when it sees the failure.
    `on_done(job, error)` runs on the event loop, in submission order.
    """

    batches: list[BatchRow]
    drops: list[DropRow]
    delivery: list[DeliveryRow]
    epoch: int
    on_done: Callable[[CommitJob, StoreError | None], None]
    context: Any = field(default=None)
    #: The events of its one `batches` row, parsed (the series index reads them).
    events: Sequence[Any] | None = None
    #: Once written: the id of the batch's last `batches` row (None: it wrote none).
    last_row: int | None = None


@dataclass(eq=False)
class _Call:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    future: asyncio.Future[Any]


#: Most batches written in one transaction.
MAX_GROUP = 64

_NOTHING: Any = object()


class AsyncStore:
    """EventStore calls on one dedicated thread, in submission order, from the event loop."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self._queue: queue.SimpleQueue[CommitJob | _Call | None] = queue.SimpleQueue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._failed_epoch = -1
        self._failure: StoreError | None = None
        self._thread = threading.Thread(target=self._run, name="sanctum-store", daemon=True)
        self._thread.start()

    # -- loop side -------------------------------------------------------------------------
    def submit(self, job: CommitJob) -> None:
        """Queue a batch write; `job.on_done` reports the outcome on this event loop."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        self._queue.put(job)

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run fn(*args) on the store thread, after everything queued before it."""
        loop = self._loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Call(fn, args, future))
        return await future

    async def commit(self, batches: list[BatchRow], drops: list[DropRow],
                     delivery: list[DeliveryRow]) -> None:
        """Write one batch and wait for it (maintenance paths; ingest uses `submit`)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def done(job: CommitJob, error: StoreError | None) -> None:
            if not future.done():
                future.set_exception(error) if error else future.set_result(None)

        self.submit(CommitJob(batches, drops, delivery, self._failed_epoch + 1, done))
        await future

    async def close(self) -> None:
        try:
            await self.call(self.store.close)
        finally:
            self._queue.put(None)
            await asyncio.get_running_loop().run_in_executor(None, self._thread.join, 10)

    # -- store thread ------------------------------------------------------------------------
    def _run(self) -> None:
        q = self._queue
        item = q.get()
        while item is not None:
            if isinstance(item, _Call):
                self._do_call(item)
                item = q.get()
                continue
            group = [item]
            item = _NOTHING
            while len(group) < MAX_GROUP:  # whatever queued up meanwhile: one transaction
                try:
                    nxt = q.get_nowait()
                except queue.Empty:
                    break
                if not isinstance(nxt, CommitJob):
                    item = nxt
                    break
                group.append(nxt)
            errors = self._write(group)
            assert self._loop is not None
            self._loop.call_soon_threadsafe(_deliver, group, errors)
            if item is _NOTHING:
                item = q.get()

    def _write(self, group: list[CommitJob]) -> list[StoreError | None]:
        """Write the group's live jobs in one transaction; the outcome of each job. When
        that fails for a reason that is not transient, the jobs are written one by one:
        those before the culprit stay written, the culprit gets its error, and the jobs
        after it are refused (they were planned on top of it)."""
        live = [j for j in group if j.epoch > self._failed_epoch]
        out: dict[int, StoreError | None] = {}
        error = self._commit(live)
        if error is None or error.transient or len(live) == 1:
            out = {id(j): error for j in live}
        else:
            error = None
            for job in live:
                if error is None:
                    error = out[id(job)] = self._commit([job])
                else:
                    out[id(job)] = StoreError(
                        f"not written: an earlier batch could not be written ({error})")
        if error is not None:
            self._failure = error
            self._failed_epoch = max(j.epoch for j in group)
        refused = StoreError(
            f"not written: an earlier batch could not be written ({self._failure})")
        return [out.get(id(j), refused) for j in group]

    def _commit(self, jobs: list[CommitJob]) -> StoreError | None:
        if not jobs:
            return None
        try:
            ids = self.store.commit_many([(j.batches, j.drops, j.delivery) for j in jobs],
                                         [j.events for j in jobs])
            for job, row in zip(jobs, ids, strict=True):
                job.last_row = row
        except Exception as exc:  # never leave a waiter hanging
            return exc if isinstance(exc, StoreError) else StoreError(
                f"cannot write to store {self.store.path}: {exc}", transient=False)
        return None

    def _do_call(self, call: _Call) -> None:
        loop = self._loop
        assert loop is not None
        try:
            result = call.fn(*call.args)
        except BaseException as exc:  # handed to the awaiting coroutine
            loop.call_soon_threadsafe(_settle, call.future, None, exc)
        else:
            loop.call_soon_threadsafe(_settle, call.future, result, None)


def _deliver(group: list[CommitJob], errors: list[StoreError | None]) -> None:
    for job, error in zip(group, errors, strict=True):
        job.on_done(job, error)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
