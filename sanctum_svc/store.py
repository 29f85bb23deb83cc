"""Embedded event store: SQLite (standard library) in WAL mode.

Every accepted batch is written in ONE transaction before it is applied or acknowledged:
its new events (keyed by run, producer and seq), updated producer drop totals, and the
delivery accounting of the runs it touched. On start the store is replayed, in insertion
order, through the same apply path. WAL with synchronous=NORMAL survives a killed process
(kill -9); only an OS crash can lose the last transactions.

SQLite calls block, so `AsyncStore` runs them on one dedicated thread: the event loop never
waits on the disk, and a single writer keeps batches in the order they were accepted.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    producer_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    received_at REAL NOT NULL,
    event BLOB NOT NULL,
    UNIQUE (run_id, producer_id, seq)
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

#: (run_id, producer_id, seq, received_at, serialized TelemetryEvent)
EventRow = tuple[str, str, int, float, bytes]
#: (run_id, producer_id, dropped_total)
DropRow = tuple[str, str, int]
#: (run_id, serialized DeliveryStats)
DeliveryRow = tuple[str, bytes]


class StoreError(Exception):
    """The store cannot be opened or written (disk full, read-only, corrupt)."""


class EventStore:
    """Synchronous store; use from one thread (AsyncStore does that)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None

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
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open store {self.path}: {exc}") from exc
        self._db = db

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreError("store is not open")
        return self._db

    def commit(self, events: list[EventRow], drops: list[DropRow],
               delivery: list[DeliveryRow]) -> None:
        """Write one accepted batch atomically; on failure nothing of it is stored."""
        db = self.db
        try:
            db.execute("BEGIN IMMEDIATE")
            if events:
                db.executemany(
                    "INSERT OR IGNORE INTO events (run_id, producer_id, seq, received_at, event)"
                    " VALUES (?, ?, ?, ?, ?)", events)
            if drops:
                db.executemany(
                    "INSERT INTO drops VALUES (?, ?, ?) ON CONFLICT (run_id, producer_id) "
                    "DO UPDATE SET dropped_total = max(dropped_total, excluded.dropped_total)",
                    drops)
            if delivery:
                db.executemany("INSERT OR REPLACE INTO delivery VALUES (?, ?)", delivery)
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise StoreError(f"cannot write to store {self.path}: {exc}") from exc

    def count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM events").fetchone()[0])

    def replay(self, chunk: int = 2000) -> Iterator[list[tuple[float, bytes]]]:
        """Stored events in insertion order, `chunk` at a time: (received_at, event bytes)."""
        last = 0
        while True:
            rows = self.db.execute(
                "SELECT id, received_at, event FROM events WHERE id > ? ORDER BY id LIMIT ?",
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


class AsyncStore:
    """EventStore calls on one dedicated thread, awaited from the event loop."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sanctum-store")

    async def call(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def commit(self, events: list[EventRow], drops: list[DropRow],
                     delivery: list[DeliveryRow]) -> None:
        await self.call(self.store.commit, events, drops, delivery)

    async def close(self) -> None:
        try:
            await self.call(self.store.close)
        finally:
            self._pool.shutdown(wait=True)
