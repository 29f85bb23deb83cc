"""Embedded event store: SQLite (standard library) in WAL mode.

Every accepted batch is written in ONE transaction before it is applied or acknowledged:
one `batches` row holding the batch's accepted events (a serialized EventBatch), updated
producer drop totals, and the delivery accounting of the runs it touched. On start the
store is replayed, in insertion order, through the same plan/apply path as live ingest.
WAL with synchronous=NORMAL survives a killed process (kill -9); only an OS crash can lose
the last transactions.

Format versions (PRAGMA user_version): 3 (this version) = `batches` rows, and every row of
`batches`, `drops` and `delivery` carries a checksum (`digest`, BLAKE2b-128 of the row's
other columns). A version-2 store (no checksums) is migrated on open: the column is added
and filled in one transaction. A store written before versions existed (user_version 0
with an `events` table, one row per event) is opened as is: its events are replayed first
and new batches go to `batches`. A store from a newer esper-sanctum is refused.

On replay a row whose checksum does not match is skipped and counted (`corrupt`), never
served as changed data; SQLite-level damage (`quick_check` on open) refuses the store with
a message saying how to recover. `check_store` (`esper-sanctum store check`) reports both
without changing anything.
`sanctum_svc.store_thread.AsyncStore` runs these calls on a thread of their own.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

from google.protobuf.message import DecodeError

from esper.telemetry.v1 import telemetry_pb2 as tpb
from sanctum_svc import series_index
from sanctum_svc.store_runs import RunRows

#: The format this code writes (PRAGMA user_version).
SCHEMA_VERSION = 4

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

#: Version 3: a checksum per row (see row_digest).
CHECKSUMS = """
ALTER TABLE batches ADD COLUMN digest BLOB;
ALTER TABLE drops ADD COLUMN digest BLOB;
ALTER TABLE delivery ADD COLUMN digest BLOB
"""

#: Version 4: aggregator checkpoints (sanctum_svc.checkpoint): the state after batch
#: `through_batch`, so a restart replays only the batches after it.
CHECKPOINTS = """
CREATE TABLE IF NOT EXISTS checkpoints (
    id INTEGER PRIMARY KEY,
    through_batch INTEGER NOT NULL,
    events INTEGER NOT NULL,
    created_at REAL NOT NULL,
    data BLOB NOT NULL,  -- framed esper.sanctum.v2.AggregatorCheckpoint
    -- Points per series of the index through through_batch (int64 pairs: id, count).
    series_counts BLOB NOT NULL,
    digest BLOB NOT NULL
)
"""

#: The pre-version layout's tables (user_version 0): one `events` row per event.
LEGACY_TABLES = frozenset({"events", "drops", "delivery"})

#: What to do about a damaged store (StoreError.hint of corruption errors).
RECOVER_HINT = (
    "Nothing was changed. `esper-sanctum store check {path}` shows what is damaged. To "
    "recover: restore a backup of the file, or copy out what SQLite can still read with "
    "`sqlite3 {path} .recover | sqlite3 NEW.sqlite` and serve --store NEW.sqlite "
    "(producers still holding events resend them)")
WRITABLE_HINT = "Choose a writable --store path (or --store :memory: for a throwaway run)"


def row_digest(*columns: object) -> bytes:
    """Checksum of one row: every column but the digest, in order."""
    h = hashlib.blake2b(digest_size=16)
    for c in columns:
        h.update(c if isinstance(c, bytes) else repr(c).encode())
        h.update(b"\x00")
    return h.digest()

#: (received_at, n_events, run_id, producer_id, first_seq, last_seq, EventBatch bytes);
#: the producer columns are None when the batch mixes producers.
BatchRow = tuple[float, int, "str | None", "str | None", "int | None", "int | None", bytes]
#: (run_id, producer_id, dropped_total)
DropRow = tuple[str, str, int]
#: (run_id, serialized DeliveryStats)
DeliveryRow = tuple[str, bytes]


class StoreError(Exception):
    """The store cannot be opened or written (disk full, read-only, corrupt, too new).

    `transient`: the same write may succeed later (disk full, locked, read-only for now);
    False when it will fail the same way (a value SQLite cannot hold, damage). `hint`
    says what a user can do."""

    def __init__(self, message: str, *, transient: bool = True,
                 hint: str = WRITABLE_HINT) -> None:
        super().__init__(message)
        self.transient = transient
        self.hint = hint


def corrupt_error(path: str, what: str) -> StoreError:
    return StoreError(f"store {path} is damaged ({what})", transient=False,
                      hint=RECOVER_HINT.format(path=path))


class EventStore(RunRows):
    """Synchronous store; use from one thread (AsyncStore does that)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        #: Whether the store still holds a pre-version `events` table (replayed first).
        self.legacy_events = False
        #: Every series' points (sanctum_svc.series_index), written with the batches.
        self.index = series_index.SeriesIndex()
        #: Rows skipped on replay because their checksum did not match, per table.
        self.corrupt: dict[str, int] = {}
        self.corrupt_rows: list[str] = []

    @property
    def in_memory(self) -> bool:
        return self.path == ":memory:"

    def open(self) -> None:
        if not self.path:
            raise StoreError("the store path is empty", transient=False,
                             hint="give a file path, or :memory: to keep nothing")
        if not self.in_memory:
            self._check_file()
        try:
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open store {self.path}: {exc}") from exc
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            problems = [r[0] for r in db.execute("PRAGMA quick_check(5)")]
            if problems != ["ok"]:
                raise corrupt_error(self.path, "; ".join(problems)[:300])
            self._migrate(db)
            self.index.load(db)
        except sqlite3.DatabaseError as exc:
            db.close()
            if isinstance(exc, sqlite3.OperationalError):
                raise StoreError(f"cannot open store {self.path}: {exc}") from exc
            raise StoreError(
                f"{self.path} is not a readable esper-sanctum store ({exc})", transient=False,
                hint="If it was a store, it is damaged. " + RECOVER_HINT.format(
                    path=self.path) + ". Otherwise choose another --store") from exc
        except StoreError:
            db.close()
            raise
        self._db = db

    def _check_file(self) -> None:
        """Refuse paths SQLite would take silently: not a regular file (/dev/null), or a
        file of 0 bytes (a store truncated to nothing would start empty)."""
        path = Path(self.path).expanduser()
        parent = path.resolve().parent
        if not parent.is_dir():
            raise StoreError(f"store directory does not exist: {parent}")
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StoreError(f"cannot open store {self.path}: {exc}") from exc
        if not stat.S_ISREG(st.st_mode):
            raise StoreError(f"store {self.path} is not a regular file", transient=False,
                             hint="Give the path of a file (it is created if missing)")
        wal = Path(f"{path}-wal")
        if st.st_size == 0 and not (wal.exists() and wal.stat().st_size > 0):
            raise StoreError(
                f"store {self.path} is an empty file (0 bytes): a store that held data and "
                "was truncated would look like this", transient=False,
                hint=f"If you meant to start a new store, delete {self.path} (or give a "
                     "path that does not exist yet); otherwise restore it from a backup")

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
                if version < 2:
                    _script(db, SCHEMA)
                if version < 3:
                    _script(db, CHECKSUMS)
                    _fill_digests(db)
                _script(db, CHECKPOINTS)
                _script(db, series_index.SCHEMA)
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
               delivery: list[DeliveryRow]) -> int | None:
        """Write one accepted batch atomically; on failure nothing of it is stored. Returns
        the id of its last `batches` row (None: it had none)."""
        return self.commit_many([(batches, drops, delivery)])[0]

    def commit_many(self, writes: list[tuple[list[BatchRow], list[DropRow],
                                             list[DeliveryRow]]],
                    parsed: Sequence[Sequence[tpb.TelemetryEvent] | None] = ()
                    ) -> list[int | None]:
        """Write several batches in ONE transaction (all or none of them). Returns, per
        write, the id of its last `batches` row (None when it had none). `parsed`: per
        write of one row, its events already parsed (None: the series index parses them)."""
        batches: list[BatchRow] = []
        drops: list[DropRow] = []
        delivery: dict[str, bytes] = {}  # only each run's latest stats matter
        row_events: list[Sequence[tpb.TelemetryEvent] | None] = []
        for k, (b, d, stats) in enumerate(writes):
            batches += b
            drops += d
            delivery.update(stats)
            given = parsed[k] if k < len(parsed) and len(b) == 1 else None
            row_events += [given] if given is not None else [None] * len(b)
        db = self.db
        index = self.index
        try:
            db.execute("BEGIN IMMEDIATE")
            index.begin()
            ids: list[int | None] = [None] * len(writes)
            if batches:
                db.executemany(
                    "INSERT INTO batches (received_at, n_events, run_id, producer_id, "
                    "first_seq, last_seq, batch, digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [(*b, row_digest(*b)) for b in batches])
                # One writer, INTEGER PRIMARY KEY: the rows got consecutive ids.
                last = int(db.execute("SELECT last_insert_rowid()").fetchone()[0])
                row = last - len(batches)
                for i, (b, _, _) in enumerate(writes):
                    row += len(b)
                    if b:
                        ids[i] = row
                for rowid, stored, events in zip(
                        range(last - len(batches) + 1, last + 1), batches, row_events,
                        strict=True):
                    index.add_batch(db, rowid, stored[0],
                                    _events_of(stored[6]) if events is None else events)
            if drops:
                latest: dict[tuple[str, str], int] = {}
                for r, p, total in drops:
                    latest[(r, p)] = max(total, latest.get((r, p), 0))
                rows = []
                for (r, p), total in latest.items():
                    old = db.execute("SELECT dropped_total FROM drops WHERE run_id = ? AND "
                                     "producer_id = ?", (r, p)).fetchone()
                    total = max(total, old[0]) if old else total
                    rows.append((r, p, total, row_digest(r, p, total)))
                db.executemany("INSERT OR REPLACE INTO drops (run_id, producer_id, "
                               "dropped_total, digest) VALUES (?, ?, ?, ?)", rows)
            if delivery:
                db.executemany("INSERT OR REPLACE INTO delivery (run_id, stats, digest) "
                               "VALUES (?, ?, ?)",
                               [(r, st, row_digest(r, st)) for r, st in delivery.items()])
            db.execute("COMMIT")
            return ids
        except BaseException as exc:  # whatever failed, the transaction must not linger
            if db.in_transaction:
                db.execute("ROLLBACK")
            index.rollback()
            if isinstance(exc, sqlite3.OperationalError):
                raise StoreError(f"cannot write to store {self.path}: {exc}") from exc
            if isinstance(exc, sqlite3.DatabaseError):
                raise corrupt_error(self.path, str(exc)) from exc
            if isinstance(exc, Exception):
                raise StoreError(f"cannot store this batch ({type(exc).__name__}: {exc})",
                                 transient=False, hint="It will fail the same way again") \
                    from exc
            raise

    def count(self, after: int | None = None) -> int:
        """Stored (accepted) events; of the batches after row `after` when given."""
        n = int(self.db.execute("SELECT coalesce(sum(n_events), 0) FROM batches WHERE id > ?",
                                (after or 0,)).fetchone()[0])
        if self.legacy_events and after is None:
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

    def replay(self, chunk: int = 200, after: int = 0
               ) -> Iterator[list[tuple[float, bytes, int]]]:
        """Stored batches after row `after` in insertion order, `chunk` at a time:
        (received_at, EventBatch bytes, row id). Rows whose checksum does not match are skipped and
        counted in `corrupt`."""
        last = after
        while True:
            rows = self.db.execute(
                "SELECT id, received_at, n_events, run_id, producer_id, first_seq, last_seq, "
                "batch, digest FROM batches WHERE id > ? ORDER BY id LIMIT ?",
                (last, chunk)).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            good = []
            for r in rows:
                if r[8] == row_digest(*r[1:8]):
                    good.append((r[1], r[7], r[0]))
                else:
                    self._corrupt("batches", r[0])
            yield good

    def _corrupt(self, table: str, rowid: object) -> None:
        self.corrupt[table] = self.corrupt.get(table, 0) + 1
        self.corrupt_rows.append(f"{table} row {rowid}")

    def last_batch(self) -> int:
        """The id of the newest `batches` row (0: none)."""
        return int(self.db.execute("SELECT coalesce(max(id), 0) FROM batches").fetchone()[0])

    def drops(self) -> list[DropRow]:
        out: list[DropRow] = []
        for rowid, r, p, total, digest in self.db.execute(
                "SELECT rowid, run_id, producer_id, dropped_total, digest FROM drops "
                "ORDER BY rowid"):
            if digest == row_digest(r, p, total):
                out.append((r, p, total))
            else:
                self._corrupt("drops", rowid)
        return out

    def deliveries(self) -> dict[str, bytes]:
        out = {}
        for rowid, r, stats, digest in self.db.execute(
                "SELECT rowid, run_id, stats, digest FROM delivery"):
            if digest == row_digest(r, stats):
                out[r] = stats
            else:
                self._corrupt("delivery", rowid)
        return out

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


def _events_of(blob: bytes) -> Sequence[tpb.TelemetryEvent]:
    """The events of a stored batch, for the series index (ingest stores only batches that
    parse; anything else has no points)."""
    try:
        return tpb.EventBatch.FromString(blob).events
    except DecodeError:
        return ()


def _script(db: sqlite3.Connection, script: str) -> None:
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def _fill_digests(db: sqlite3.Connection) -> None:
    """Checksum the rows a version-2 store wrote without one (the migration to 3)."""
    db.executemany("UPDATE batches SET digest = ? WHERE id = ?", [
        (row_digest(*r[1:]), r[0]) for r in db.execute(
            "SELECT id, received_at, n_events, run_id, producer_id, first_seq, last_seq, "
            "batch FROM batches WHERE digest IS NULL").fetchall()])
    db.executemany("UPDATE drops SET digest = ? WHERE rowid = ?", [
        (row_digest(*r[1:]), r[0]) for r in db.execute(
            "SELECT rowid, run_id, producer_id, dropped_total FROM drops").fetchall()])
    db.executemany("UPDATE delivery SET digest = ? WHERE rowid = ?", [
        (row_digest(*r[1:]), r[0]) for r in db.execute(
            "SELECT rowid, run_id, stats FROM delivery").fetchall()])
