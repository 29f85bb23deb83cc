"""Embedded event store: SQLite (standard library) in WAL mode.

Every accepted batch is written in ONE transaction before it is applied or acknowledged:
one `batches` row holding the batch's accepted events (a serialized EventBatch), updated
producer drop totals, and the delivery accounting of the runs it touched. On start the
store is replayed, in insertion order, through the same plan/apply path as live ingest.
WAL with synchronous=NORMAL survives a killed process (kill -9); only an OS crash can lose
the last transactions.

Format versions (PRAGMA user_version): 2 = `batches` rows (this version). A store written
before versions existed (user_version 0 with an `events` table, one row per event) is
opened as is: its events are replayed first and new batches go to `batches`. A store from
a newer esper-sanctum is refused with a clear message.

SQLite calls block, so `AsyncStore` runs them on one dedicated thread, in submission
order: the event loop never waits on the disk, and batches queued while a transaction is
running are written together in the next one (group commit).
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

#: The format this code writes (PRAGMA user_version).
SCHEMA_VERSION = 2

SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY,
    received_at REAL NOT NULL,
    n_events INTEGER NOT NULL,
    -- Set when all events of the batch come from one producer (the common case).
    run_id TEXT,
    producer_id TEXT,
    first_seq INTEGER,
    last_seq INTEGER,
    batch BLOB NOT NULL  -- serialized esper.telemetry.v1.EventBatch: the accepted events
);
CREATE TABLE IF NOT EXISTS drops (
    run_id TEXT NOT NULL,
    producer_id TEXT NOT NULL,
    dropped_total INTEGER NOT NULL,
    PRIMARY KEY (run_id, producer_id)
);
CREATE TABLE IF NOT EXISTS delivery (
    run_id TEXT PRIMARY KEY,
    stats BLOB NOT NULL
);
"""

#: The pre-version layout's tables (user_version 0): one `events` row per event.
LEGACY_TABLES = frozenset({"events", "drops", "delivery"})

#: (received_at, n_events, run_id, producer_id, first_seq, last_seq, EventBatch bytes);
#: the producer columns are None when the batch mixes producers.
BatchRow = tuple[float, int, "str | None", "str | None", "int | None", "int | None", bytes]
#: (run_id, producer_id, dropped_total)
DropRow = tuple[str, str, int]
#: (run_id, serialized DeliveryStats)
DeliveryRow = tuple[str, bytes]


class StoreError(Exception):
    """The store cannot be opened or written (disk full, read-only, corrupt, too new)."""


class EventStore:
    """Synchronous store; use from one thread (AsyncStore does that)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        #: Whether the store still holds a pre-version `events` table (replayed first).
        self.legacy_events = False

    @property
    def in_memory(self) -> bool:
        return self.path == ":memory:"

    def open(self) -> None:
        if not self.in_memory:
            parent = Path(self.path).expanduser().resolve().parent
            if not parent.is_dir():
                raise StoreError(f"store directory does not exist: {parent}")
        try:
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open store {self.path}: {exc}") from exc
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._migrate(db)
        except sqlite3.Error as exc:
            db.close()
            raise StoreError(f"cannot open store {self.path}: {exc}") from exc
        except StoreError:
            db.close()
            raise
        self._db = db

    def _migrate(self, db: sqlite3.Connection) -> None:
        """Create or adopt the schema; refuse stores this version cannot read."""
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"store {self.path} has format version {version}, written by a newer "
                f"esper-sanctum (this one reads versions up to {SCHEMA_VERSION}); use a newer "
                "esper-sanctum or another --store")
        tables = {r[0] for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        if version == 0 and tables - LEGACY_TABLES:
            raise StoreError(f"{self.path} is an SQLite database but not an esper-sanctum "
                             f"store (tables {sorted(tables)}); choose another --store")
        self.legacy_events = "events" in tables
        if version < SCHEMA_VERSION:
            db.execute("BEGIN IMMEDIATE")
            try:
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreError("store is not open")
        return self._db

    def commit(self, batches: list[BatchRow], drops: list[DropRow],
               delivery: list[DeliveryRow]) -> None:
        """Write one accepted batch atomically; on failure nothing of it is stored."""
        self.commit_many([(batches, drops, delivery)])

    def commit_many(self, writes: list[tuple[list[BatchRow], list[DropRow],
                                             list[DeliveryRow]]]) -> None:
        """Write several batches in ONE transaction (all or none of them)."""
        batches: list[BatchRow] = []
        drops: list[DropRow] = []
        delivery: dict[str, bytes] = {}  # only each run's latest stats matter
        for b, d, stats in writes:
            batches += b
            drops += d
            delivery.update(stats)
        db = self.db
        try:
            db.execute("BEGIN IMMEDIATE")
            if batches:
                db.executemany(
                    "INSERT INTO batches (received_at, n_events, run_id, producer_id, "
                    "first_seq, last_seq, batch) VALUES (?, ?, ?, ?, ?, ?, ?)", batches)
            if drops:
                db.executemany(
                    "INSERT INTO drops VALUES (?, ?, ?) ON CONFLICT (run_id, producer_id) "
                    "DO UPDATE SET dropped_total = max(dropped_total, excluded.dropped_total)",
                    drops)
            if delivery:
                db.executemany("INSERT OR REPLACE INTO delivery VALUES (?, ?)",
                               delivery.items())
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise StoreError(f"cannot write to store {self.path}: {exc}") from exc

    def count(self) -> int:
        """Stored (accepted) events."""
        n = int(self.db.execute("SELECT coalesce(sum(n_events), 0) FROM batches").fetchone()[0])
        if self.legacy_events:
            n += int(self.db.execute("SELECT count(*) FROM events").fetchone()[0])
        return n

    def replay_legacy(self, chunk: int = 2000) -> Iterator[list[tuple[float, bytes]]]:
        """Pre-version per-event rows in insertion order: (received_at, TelemetryEvent bytes)."""
        if not self.legacy_events:
            return
        last = 0
        while True:
            rows = self.db.execute(
                "SELECT id, received_at, event FROM events WHERE id > ? ORDER BY id LIMIT ?",
                (last, chunk)).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            yield [(r[1], r[2]) for r in rows]

    def replay(self, chunk: int = 200) -> Iterator[list[tuple[float, bytes]]]:
        """Stored batches in insertion order, `chunk` at a time: (received_at, EventBatch bytes)."""
        last = 0
        while True:
            rows = self.db.execute(
                "SELECT id, received_at, batch FROM batches WHERE id > ? ORDER BY id LIMIT ?",
                (last, chunk)).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            yield [(r[1], r[2]) for r in rows]

    def drops(self) -> list[DropRow]:
        return [tuple(r) for r in self.db.execute("SELECT * FROM drops ORDER BY rowid")]

    def deliveries(self) -> dict[str, bytes]:
        return dict(self.db.execute("SELECT run_id, stats FROM delivery"))

    def limit_pages(self, max_pages: int | None) -> None:
        """Cap the database size (SQLITE_FULL beyond): simulates a full disk in tests."""
        if max_pages is None:
            max_pages = 1 << 30
        self.db.execute(f"PRAGMA max_page_count = {int(max_pages)}")

    def page_count(self) -> int:
        return int(self.db.execute("PRAGMA page_count").fetchone()[0])

    def close(self) -> None:
        if self._db is not None:
            try:
                if not self.in_memory:
                    self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                self._db.close()
                self._db = None


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
        """Write the group's live jobs in one transaction; the outcome of each job."""
        live = [j.epoch > self._failed_epoch for j in group]
        error: StoreError | None = None
        if any(live):
            try:
                self.store.commit_many([(j.batches, j.drops, j.delivery)
                                        for j, ok in zip(group, live, strict=True) if ok])
            except Exception as exc:  # never leave a waiter hanging
                error = exc if isinstance(exc, StoreError) else StoreError(
                    f"cannot write to store {self.store.path}: {exc}")
                self._failure = error
                self._failed_epoch = max(j.epoch for j in group)
        refused = StoreError(
            f"not written: an earlier batch could not be written ({self._failure})")
        return [error if ok else refused for ok in live]

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
