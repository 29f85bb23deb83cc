"""`esper-sanctum store check PATH`: is this store whole? Reads it, changes nothing.

Checks that the file is an SQLite database SQLite itself finds intact (integrity_check),
that it is an esper-sanctum store of a version this code reads, that every row's checksum
matches (format 3) and that every stored batch parses. Reports counts and each damaged row.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf.message import DecodeError

from esper.telemetry.v1 import telemetry_pb2 as tpb
from sanctum_svc.store import RECOVER_HINT, SCHEMA_VERSION, row_digest

#: Damaged rows listed one by one; past this, only counted.
MAX_LISTED = 50


@dataclass
class Report:
    path: str
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def text(self) -> str:
        out = [f"{self.path}:", *(f"  {x}" for x in self.lines)]
        if self.problems:
            shown = self.problems[:MAX_LISTED]
            more = len(self.problems) - len(shown)
            out += ["  DAMAGED:", *(f"    {x}" for x in shown)]
            if more:
                out.append(f"    ... and {more} more")
            out.append("  " + RECOVER_HINT.format(path=self.path).replace(
                f"`esper-sanctum store check {self.path}` shows what is damaged. ", ""))
        else:
            out.append("  OK: nothing damaged")
        return "\n".join(out)


def check_store(path: str) -> Report:
    report = Report(path)
    try:
        st = os.stat(path)
    except OSError as exc:
        report.problems.append(f"cannot read it: {exc}")
        return report
    if not stat.S_ISREG(st.st_mode):
        report.problems.append("not a regular file")
        return report
    if st.st_size == 0:
        report.problems.append("empty file (0 bytes): a truncated store looks like this")
        return report
    try:
        db = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        report.problems.append(f"cannot open it: {exc}")
        return report
    try:
        _check(db, report)
    except sqlite3.DatabaseError as exc:
        report.problems.append(f"SQLite cannot read it: {exc}")
    finally:
        db.close()
    return report


def _check(db: sqlite3.Connection, report: Report) -> None:
    problems = [r[0] for r in db.execute("PRAGMA integrity_check(20)")]
    if problems != ["ok"]:
        report.problems += [f"SQLite: {p}" for p in problems]
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    report.lines.append(f"format version {version} (this esper-sanctum writes "
                        f"{SCHEMA_VERSION}); {st_size(report.path)}")
    if version > SCHEMA_VERSION:
        report.problems.append("written by a newer esper-sanctum")
        return
    if "batches" not in tables and "events" not in tables:
        report.problems.append(f"not an esper-sanctum store (tables: {sorted(tables)})")
        return
    checksums = version >= 3
    if not checksums:
        report.lines.append("no checksums yet (format < 3): `serve` adds them on open")
    events = batches = 0
    runs: set[str] = set()
    if "batches" in tables:
        cols = "id, received_at, n_events, run_id, producer_id, first_seq, last_seq, batch"
        query = f"SELECT {cols}{', digest' if checksums else ''} FROM batches ORDER BY id"
        for row in db.execute(query):
            batches += 1
            if checksums and row[8] != row_digest(*row[1:8]):
                report.problems.append(f"batches row {row[0]}: checksum mismatch")
                continue
            try:
                parsed = tpb.EventBatch.FromString(row[7])
            except DecodeError as exc:
                report.problems.append(f"batches row {row[0]}: does not parse ({exc})")
                continue
            events += len(parsed.events)
            runs.update(e.run_id for e in parsed.events)
    if "events" in tables:
        events += int(db.execute("SELECT count(*) FROM events").fetchone()[0])
    for table, columns in (("drops", "run_id, producer_id, dropped_total"),
                           ("delivery", "run_id, stats")):
        if table not in tables or not checksums:
            continue
        for row in db.execute(f"SELECT rowid, {columns}, digest FROM {table}"):
            if row[-1] != row_digest(*row[1:-1]):
                report.problems.append(f"{table} row {row[0]}: checksum mismatch")
    report.lines.append(f"{batches} batches, {events} events, {len(runs)} runs")
    if "checkpoints" in tables:
        _check_checkpoints(db, report)


def _check_checkpoints(db: sqlite3.Connection, report: Report) -> None:
    """Each checkpoint's row checksum and its own framing (magic, version, checksum)."""
    from sanctum_svc.checkpoint import CheckpointError, decode

    good = 0
    newest: tuple[int, int] | None = None
    for rowid, through, events, created, data, digest in db.execute(
            "SELECT id, through_batch, events, created_at, data, digest FROM checkpoints "
            "ORDER BY id"):
        if digest != row_digest(through, events, created, data):
            report.problems.append(f"checkpoints row {rowid}: checksum mismatch")
            continue
        try:
            decode(data)
        except CheckpointError as exc:
            report.problems.append(f"checkpoints row {rowid}: {exc}")
            continue
        good += 1
        newest = (through, events)
    if newest is not None:
        report.lines.append(f"{good} checkpoints, the newest after batch {newest[0]} "
                            f"({newest[1]} events)")


def st_size(path: str) -> str:
    return f"{os.stat(path).st_size:,} bytes"
