"""The series index: every point of every series of a run, in blocks, in the store.

Points (sanctum_svc.series_extract) are numbered per series from 0 (the point's `step`).
They gather in an in-memory tail per series; a tail of BLOCK points is written as one
`series_blocks` row (times and values as packed float64 arrays, plus the block's first and
last time and its min and max with their offsets) in the transaction of the batch that
filled it. A checkpoint's transaction writes the tails' points of the batches it covers
(and each series' count at that point), so after a restart `recover` cuts the blocks back
to the counts of the checkpoint restored and replay re-adds exactly the points after it.
Without a checkpoint the index is rebuilt whole by the replay (which is also how a store
of an older format gets one).

Only the store thread touches this object (EventStore calls it inside its transactions).
"""

from __future__ import annotations

import hashlib
import sqlite3
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from esper.telemetry.v1 import telemetry_pb2 as tpb
from sanctum_svc.series_extract import SeriesKey, points_of

#: Points per block (a full block is 8 KiB of values and times).
BLOCK = 512
#: Series per run at most: points of further series are not indexed (counted in
#: `refused_points`), so a producer inventing names cannot grow the index without bound.
MAX_SERIES_PER_RUN = 8192

SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    name TEXT NOT NULL,
    group_id TEXT NOT NULL,
    env_id INTEGER NOT NULL,
    UNIQUE (run_id, name, group_id, env_id)
);
CREATE TABLE IF NOT EXISTS series_blocks (
    series_id INTEGER NOT NULL,
    first_step INTEGER NOT NULL,
    n INTEGER NOT NULL,
    t_first REAL NOT NULL,
    t_last REAL NOT NULL,
    vmin REAL NOT NULL,
    imin INTEGER NOT NULL,
    tmin REAL NOT NULL,
    vmax REAL NOT NULL,
    imax INTEGER NOT NULL,
    tmax REAL NOT NULL,
    data BLOB NOT NULL,  -- n float64 times, then n float64 values (little-endian)
    data_digest BLOB NOT NULL,  -- BLAKE2b-128 of data (checked when the block is decoded)
    digest BLOB NOT NULL,  -- of the other columns but data (checked on every read)
    PRIMARY KEY (series_id, first_step)
) WITHOUT ROWID
"""



@dataclass
class Tail:
    """Points of one series not yet in a block: times, values, and each one's batch row."""

    series_id: int
    first_step: int
    times: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    batches: list[int] = field(default_factory=list)


def pack(times: Iterable[float], values: Iterable[float]) -> bytes:
    t, v = array("d", times), array("d", values)
    return t.tobytes() + v.tobytes()


def unpack(data: bytes, n: int) -> tuple[array[float], array[float]]:
    t, v = array("d"), array("d")
    t.frombytes(data[:8 * n])
    v.frombytes(data[8 * n:16 * n])
    return t, v


class SeriesIndex:
    """Tails and blocks of every series of one store (see the module docstring)."""

    def __init__(self) -> None:
        self.ids: dict[SeriesKey, int] = {}
        #: run id -> its series keys.
        self.runs: dict[str, set[SeriesKey]] = {}
        self.tails: dict[int, Tail] = {}
        self._next_id = 1
        #: Rollback journal of the open transaction: each touched tail's length before it
        #: (a copy once the transaction flushed part of it), and the series created in it.
        self._journal: dict[int, Tail | int] = {}
        self._created: list[SeriesKey] = []
        #: Points not indexed because their run already had MAX_SERIES_PER_RUN series.
        self.refused_points = 0

    # -- start ---------------------------------------------------------------------------
    def load(self, db: sqlite3.Connection) -> None:
        self.ids = {(r, n, g, e): i for i, r, n, g, e in db.execute(
            "SELECT id, run_id, name, group_id, env_id FROM series")}
        self.runs = {}
        for key in self.ids:
            self.runs.setdefault(key[0], set()).add(key)
        self._next_id = max(self.ids.values(), default=0) + 1
        self.tails = {i: Tail(i, n) for i, n in db.execute(
            "SELECT series_id, max(first_step + n) FROM series_blocks GROUP BY series_id")}

    def recover(self, db: sqlite3.Connection, counts: dict[int, int] | None) -> None:
        """Cut the blocks back to `counts` (series id -> points; a checkpoint's), or empty
        the index (None: the whole store is replayed). Replay then adds the rest."""
        self.load(db)
        if counts is None:
            db.execute("DELETE FROM series_blocks")
            self.tails = {}
            return
        for series_id in self.ids.values():
            n = counts.get(series_id, 0)
            db.execute("DELETE FROM series_blocks WHERE series_id = ? AND first_step >= ?",
                       (series_id, n))
            row = db.execute("SELECT first_step, n, data FROM series_blocks WHERE "
                             "series_id = ? ORDER BY first_step DESC LIMIT 1",
                             (series_id,)).fetchone()
            if row is not None and row[0] + row[1] > n:  # a block straddles the count
                t, v = unpack(row[2], row[1])
                keep = n - row[0]
                db.execute("DELETE FROM series_blocks WHERE series_id = ? AND first_step = ?",
                           (series_id, row[0]))
                self._write_block(db, series_id, row[0], list(t[:keep]), list(v[:keep]))
            self.tails[series_id] = Tail(series_id, n)

    # -- adding ----------------------------------------------------------------------------
    def begin(self) -> None:
        self._journal = {}
        self._created = []

    def rollback(self) -> None:
        """The transaction failed: forget what it added."""
        for series_id, before in self._journal.items():
            if isinstance(before, Tail):
                self.tails[series_id] = before
            else:  # only appended to: cut back to the length it had
                tail = self.tails[series_id]
                del tail.times[before:], tail.values[before:], tail.batches[before:]
        for key in self._created:
            series_id = self.ids.pop(key)
            self.runs.get(key[0], set()).discard(key)
            self.tails.pop(series_id, None)
        self._journal, self._created = {}, []

    def add_batch(self, db: sqlite3.Connection, batch_row: int, received_at: float,
                  events: Iterable[tpb.TelemetryEvent]) -> None:
        """Add the points of one stored batch; write the blocks it fills."""
        for key, (times, values) in points_of(events, received_at).items():
            tail = self._tail(db, key)
            if tail is None:
                self.refused_points += len(values)
                continue
            tail.times += times
            tail.values += values
            tail.batches += [batch_row] * len(values)
            while len(tail.times) >= BLOCK:
                self._flush(db, tail, BLOCK)

    def _tail(self, db: sqlite3.Connection, key: SeriesKey) -> Tail | None:
        series_id = self.ids.get(key)
        if series_id is None:
            if len(self.runs.get(key[0], ())) >= MAX_SERIES_PER_RUN:
                return None
            series_id = self.ids[key] = self._next_id
            self.runs.setdefault(key[0], set()).add(key)
            self._next_id += 1
            self._created.append(key)
            db.execute("INSERT INTO series (id, run_id, name, group_id, env_id) "
                       "VALUES (?, ?, ?, ?, ?)", (series_id, *key))
        tail = self.tails.get(series_id)
        if tail is None:
            tail = self.tails[series_id] = Tail(series_id, 0)
        if series_id not in self._journal:
            self._journal[series_id] = len(tail.times)
        return tail

    def _flush(self, db: sqlite3.Connection, tail: Tail, k: int) -> None:
        """Write the tail's first k points as a block."""
        before = self._journal.get(tail.series_id)
        if not isinstance(before, Tail):  # the tail as the transaction found it
            n = len(tail.times) if before is None else before
            self._journal[tail.series_id] = Tail(tail.series_id, tail.first_step,
                                                 tail.times[:n], tail.values[:n],
                                                 tail.batches[:n])
        self._write_block(db, tail.series_id, tail.first_step, tail.times[:k],
                          tail.values[:k])
        tail.first_step += k
        del tail.times[:k], tail.values[:k], tail.batches[:k]

    def _write_block(self, db: sqlite3.Connection, series_id: int, first: int,
                     times: list[float], values: list[float]) -> None:
        from sanctum_svc.store import row_digest

        vmin, vmax = min(values), max(values)
        imin, imax = values.index(vmin), values.index(vmax)
        data = pack(times, values)
        cols = (series_id, first, len(values), times[0], times[-1], vmin, imin, times[imin],
                vmax, imax, times[imax], data_digest(data))
        db.execute("INSERT OR REPLACE INTO series_blocks (series_id, first_step, n, t_first, "
                   "t_last, vmin, imin, tmin, vmax, imax, tmax, data_digest, digest, data) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (*cols, row_digest(*cols), data))

    def flush_through(self, db: sqlite3.Connection, batch_row: int) -> dict[int, int]:
        """Write every tail's points of batches <= batch_row (a checkpoint covering them is
        being written in this transaction); each series' count of points through it."""
        counts = {}
        for tail in self.tails.values():
            k = 0
            batches = tail.batches
            while k < len(batches) and batches[k] <= batch_row:
                k += 1
            if k:
                self._flush(db, tail, k)
            counts[tail.series_id] = tail.first_step
        return counts

    def forget_run(self, db: sqlite3.Connection, run_id: str) -> None:
        for key in self.runs.pop(run_id, set()):
            self.tails.pop(self.ids.pop(key), None)
        db.execute("DELETE FROM series_blocks WHERE series_id IN (SELECT id FROM series "
                   "WHERE run_id = ?)", (run_id,))
        db.execute("DELETE FROM series WHERE run_id = ?", (run_id,))

    # -- reading ---------------------------------------------------------------------------
    def series_of(self, run_id: str) -> list[tuple[SeriesKey, int]]:
        """The series of a run with their point counts, by name."""
        out = []
        for key in self.runs.get(run_id, ()):
            out.append((key, self.count(self.ids[key])))
        return sorted(out, key=lambda kn: (kn[0][1], kn[0][2], kn[0][3]))

    def count(self, series_id: int) -> int:
        tail = self.tails.get(series_id)
        return tail.first_step + len(tail.times) if tail is not None else 0

    def segments(self, db: sqlite3.Connection, series_id: int, s0: int, s1: int,
                 stats: dict[str, int]) -> Iterator[Segment]:
        """The blocks (then the tail) holding steps s0..s1 (inclusive), in step order."""
        rows = db.execute(
            "SELECT first_step, n, t_first, t_last, vmin, imin, tmin, vmax, imax, tmax, "
            "data_digest, digest FROM series_blocks WHERE series_id = ? AND first_step <= ? AND "
            "first_step + n > ? ORDER BY first_step", (series_id, s1, s0))
        from sanctum_svc.store import row_digest

        for row in rows:
            stats["blocks"] = stats.get("blocks", 0) + 1
            if row[11] != row_digest(series_id, *row[:11]):
                stats["damaged"] = stats.get("damaged", 0) + 1
                continue
            yield Segment(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7],
                          row[8], row[9], data_digest=row[10], source=(db, series_id))
        tail = self.tails.get(series_id)
        if tail is not None and tail.times and tail.first_step + len(tail.times) > s0 \
                and tail.first_step <= s1:
            yield Segment.of(tail.first_step, array("d", tail.times), array("d", tail.values))


@dataclass
class Segment:
    """A run of consecutive points: a block (summary + packed data) or decoded arrays."""

    first: int
    n: int
    t_first: float
    t_last: float
    vmin: float
    imin: int
    tmin: float
    vmax: float
    imax: int
    tmax: float
    data_digest: bytes | None = None
    #: Where to read the block's data from when it is decoded: (db, series id).
    source: tuple[sqlite3.Connection, int] | None = None
    arrays: tuple[array[float], array[float]] | None = None

    @classmethod
    def of(cls, first: int, times: array[float], values: array[float]) -> Segment:
        vmin, vmax = min(values), max(values)
        imin, imax = values.index(vmin), values.index(vmax)
        return cls(first, len(values), times[0], times[-1], vmin, imin, times[imin], vmax,
                   imax, times[imax], arrays=(times, values))

    def decoded(self, stats: dict[str, int]) -> tuple[array[float], array[float]]:
        if self.arrays is None:
            assert self.source is not None
            db, series_id = self.source
            row = db.execute("SELECT data FROM series_blocks WHERE series_id = ? AND "
                             "first_step = ?", (series_id, self.first)).fetchone()
            if row is None or data_digest(row[0]) != self.data_digest:
                raise DamagedBlock(f"series {series_id}: the block at step {self.first} is "
                                   "damaged (checksum mismatch); `esper-sanctum store check` "
                                   "lists it")
            self.arrays = unpack(row[0], self.n)
            stats["decoded"] = stats.get("decoded", 0) + self.n
        return self.arrays


class DamagedBlock(Exception):
    """A block's data does not match its checksum."""


def data_digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()
