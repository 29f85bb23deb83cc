"""The store's rows beyond the event log: checkpoints, the series index, deleting runs.

A mixin of EventStore (sanctum_svc.store), kept apart so each file has one job. Every
method runs on the store thread, in one transaction of its own.
"""

from __future__ import annotations

import sqlite3
from array import array
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from esper.telemetry.v1 import telemetry_pb2 as tpb

if TYPE_CHECKING:
    from sanctum_svc.series_index import SeriesIndex


class RunRows:
    """Checkpoints, index maintenance and run deletion (see the module docstring)."""

    path: str
    index: SeriesIndex

    if TYPE_CHECKING:
        @property
        def db(self) -> sqlite3.Connection: ...

        def _corrupt(self, table: str, rowid: object) -> None: ...

    @contextmanager
    def _transaction(self, what: str) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT; on failure ROLLBACK (index too) and StoreError."""
        from sanctum_svc.store import StoreError

        db = self.db
        try:
            db.execute("BEGIN IMMEDIATE")
            self.index.begin()
            yield db
            db.execute("COMMIT")
        except BaseException as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            self.index.rollback()
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"cannot {what} in store {self.path}: {exc}") from exc
            raise

    # -- checkpoints ----------------------------------------------------------------------------
    def _insert_checkpoint(self, db: sqlite3.Connection, through_batch: int, events: int,
                           data: bytes, created_at: float, keep: int) -> None:
        from sanctum_svc.store import row_digest

        counts = self.index.flush_through(db, through_batch)
        packed = array("q", [x for pair in sorted(counts.items()) for x in pair]).tobytes()
        cols = (through_batch, events, created_at, data, packed)
        db.execute("INSERT INTO checkpoints (through_batch, events, created_at, data, "
                   "series_counts, digest) VALUES (?, ?, ?, ?, ?, ?)",
                   (*cols, row_digest(*cols)))
        db.execute("DELETE FROM checkpoints WHERE id NOT IN (SELECT id FROM checkpoints "
                   "ORDER BY id DESC LIMIT ?)", (max(1, keep),))

    def write_checkpoint(self, through_batch: int, events: int, data: bytes,
                         created_at: float, keep: int = 2) -> None:
        """Store a checkpoint, the index's points of the batches it covers and each
        series' count, and prune all but the newest `keep`, in one transaction."""
        with self._transaction("write a checkpoint") as db:
            self._insert_checkpoint(db, through_batch, events, data, created_at, keep)

    def checkpoints(self) -> Iterator[tuple[int, int, int, bytes, dict[int, int]]]:
        """Intact checkpoints, newest first: (id, through_batch, events, data, series
        counts). Rows whose checksum does not match are skipped and counted in `corrupt`."""
        from sanctum_svc.store import row_digest

        ids = [r[0] for r in self.db.execute("SELECT id FROM checkpoints ORDER BY id DESC")]
        for rowid in ids:
            row = self.db.execute("SELECT through_batch, events, created_at, data, "
                                  "series_counts, digest FROM checkpoints WHERE id = ?",
                                  (rowid,)).fetchone()
            if row is None:
                continue
            if row[5] == row_digest(*row[:5]):
                pairs = array("q")
                pairs.frombytes(row[4])
                yield rowid, row[0], row[1], row[3], dict(zip(pairs[::2], pairs[1::2],
                                                             strict=True))
            else:
                self._corrupt("checkpoints", rowid)

    # -- the series index -------------------------------------------------------------------------
    def index_replayed(self, rows: Iterable[tuple[int, float, Iterable[tpb.TelemetryEvent]]]
                       ) -> None:
        """Add replayed batches' points to the series index (one transaction)."""
        with self._transaction("index replayed events") as db:
            for rowid, received_at, events in rows:
                self.index.add_batch(db, rowid, received_at, events)

    def recover_index(self, counts: dict[int, int] | None) -> None:
        """Cut the index back to a checkpoint's counts (None: empty it) before replay."""
        with self._transaction("recover the series index") as db:
            self.index.recover(db, counts)

    # -- deleting runs ----------------------------------------------------------------------------
    def delete_runs(self, run_ids: list[str],
                    checkpoint: tuple[int, int, bytes, float, int] | None) -> int:
        """Delete runs' events, drops, delivery rows and series, and replace every
        checkpoint (they hold the runs' state) by `checkpoint` (through_batch, events,
        data, created_at, keep; None: none), in one transaction. Returns events deleted."""
        from sanctum_svc.store import row_digest

        wanted = set(run_ids)
        deleted = 0
        with self._transaction("delete runs") as db:
            for run_id in run_ids:
                n = db.execute("SELECT coalesce(sum(n_events), 0) FROM batches WHERE "
                               "run_id = ?", (run_id,)).fetchone()[0]
                deleted += int(n)
                db.execute("DELETE FROM batches WHERE run_id = ?", (run_id,))
                db.execute("DELETE FROM drops WHERE run_id = ?", (run_id,))
                db.execute("DELETE FROM delivery WHERE run_id = ?", (run_id,))
                self.index.forget_run(db, run_id)
            # Batches mixing producers (no run_id column): keep the other runs' events.
            for rowid, received_at, blob in db.execute(
                    "SELECT id, received_at, batch FROM batches WHERE run_id IS NULL"
                    ).fetchall():
                batch = tpb.EventBatch.FromString(blob)
                keep = [e for e in batch.events if e.run_id not in wanted]
                if len(keep) == len(batch.events):
                    continue
                deleted += len(batch.events) - len(keep)
                if not keep:
                    db.execute("DELETE FROM batches WHERE id = ?", (rowid,))
                    continue
                drops = [d for d in batch.drops if d.run_id not in wanted]
                data = tpb.EventBatch(events=keep, drops=drops).SerializeToString()
                cols = (received_at, len(keep), None, None, None, None, data)
                db.execute("UPDATE batches SET n_events = ?, batch = ?, digest = ? WHERE "
                           "id = ?", (len(keep), data, row_digest(*cols), rowid))
            db.execute("DELETE FROM checkpoints")
            if checkpoint is not None:
                through, events, data, created_at, keep_n = checkpoint
                self._insert_checkpoint(db, through, events, data, created_at, keep_n)
        return deleted
