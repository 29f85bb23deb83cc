"""The store's checksums, its migration to format 3, and paths it must refuse."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from esper.telemetry.v1 import telemetry_pb2 as tpb
from sanctum_svc.store import SCHEMA, SCHEMA_VERSION, EventStore, StoreError, row_digest
from sanctum_svc.store_check import check_store
from testkit import ThreadedSanctum, build_run_events, comparable


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sanctum_svc", *args], capture_output=True,
                          text=True, timeout=60)


def _filled(path: Path) -> list:
    with ThreadedSanctum(store=str(path)) as s:
        s.ingest(build_run_events("run-1", n_batches=3), batch_size=16)
        return [comparable(s.snapshot("run-1"))]


def test_format_4_has_a_checksum_per_row(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    _filled(path)
    assert SCHEMA_VERSION == 4
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT received_at, n_events, run_id, producer_id, first_seq, "
                          "last_seq, batch, digest FROM batches").fetchall()
    assert rows and all(r[7] == row_digest(*r[:7]) for r in rows)
    report = check_store(str(path))
    assert report.ok, report.text()


def test_a_damaged_batch_is_skipped_counted_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    _filled(path)
    with sqlite3.connect(path) as db:  # one changed byte inside a stored batch
        rowid, blob = db.execute("SELECT id, batch FROM batches ORDER BY id DESC").fetchone()
        changed = bytearray(blob)
        changed[len(changed) // 2] ^= 0x01
        db.execute("UPDATE batches SET batch = ? WHERE id = ?", (bytes(changed), rowid))
    with ThreadedSanctum(store=str(path)) as s:
        assert s.server is not None
        assert s.server.store.corrupt == {"batches": 1}
        assert s.server.metrics.store_corrupt._value.get() == 1
        s.snapshot("run-1")  # the rest is served
    out = _cli("store", "check", str(path))
    assert out.returncode == 1 and f"batches row {rowid}: checksum mismatch" in out.stdout
    assert "sqlite3" in out.stdout  # how to recover


def test_a_format_2_store_is_migrated_and_checksummed(tmp_path: Path) -> None:
    path = tmp_path / "v2.sqlite"
    events = build_run_events("old", n_batches=1)
    with sqlite3.connect(path) as db:
        for statement in SCHEMA.split(";"):
            if statement.strip():
                db.execute(statement)
        blob = tpb.EventBatch(events=events).SerializeToString()
        db.execute("INSERT INTO batches (received_at, n_events, run_id, producer_id, "
                   "first_seq, last_seq, batch) VALUES (?, ?, ?, ?, ?, ?, ?)",
                   (1.5, len(events), "old", events[0].producer_id, 1, len(events), blob))
        db.execute("INSERT INTO drops VALUES ('old', ?, 3)", (events[0].producer_id,))
        db.execute("PRAGMA user_version = 2")
    assert any("no checksums" in line for line in check_store(str(path)).lines)
    with ThreadedSanctum(store=str(path)) as s:
        snap = s.snapshot("old")
        assert snap.delivery.events_applied == len(events)
        assert snap.delivery.producer_dropped == 3
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("SELECT count(*) FROM batches WHERE digest IS NULL").fetchone()[0] == 0
    assert check_store(str(path)).ok


@pytest.mark.parametrize("name,prepare,message", [
    ("dev-null", lambda p: Path("/dev/null"), "not a regular file"),
    ("empty", lambda p: (p.write_bytes(b""), p)[1], "empty file (0 bytes)"),
    ("directory", lambda p: (p.mkdir(), p)[1], "not a regular file"),
])
def test_paths_sqlite_would_take_silently_are_refused(tmp_path: Path, name: str, prepare,  # noqa: ANN001
                                                      message: str) -> None:
    path = prepare(tmp_path / f"{name}.sqlite")
    with pytest.raises(StoreError, match=re.escape(message)):
        EventStore(str(path)).open()
    out = _cli("serve", "--store", str(path), "--listen", "127.0.0.1:0")
    assert out.returncode == 2 and message in out.stderr
    assert "Traceback" not in out.stderr and "cannot rollback" not in out.stderr


def test_empty_store_argument_is_refused() -> None:
    out = _cli("serve", "--store", "", "--listen", "127.0.0.1:0")
    assert out.returncode == 2 and "--store is empty" in out.stderr


def test_a_damaged_database_says_how_to_recover(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    _filled(path)
    data = bytearray(path.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # page 1's b-tree: the schema
    path.write_bytes(bytes(data))
    out = _cli("serve", "--store", str(path), "--listen", "127.0.0.1:0")
    assert out.returncode == 2, out.stderr
    assert "writable" not in out.stderr and "store check" in out.stderr
    assert "Traceback" not in out.stderr


def test_any_failure_in_a_transaction_rolls_it_back(tmp_path: Path) -> None:
    """A value SQLite cannot hold (past validation, were a rule ever missing) fails that
    write alone, as not transient, and leaves no transaction open for the next one."""
    store = EventStore(str(tmp_path / "s.sqlite"))
    store.open()
    bad = (1.0, 1, "r", "p", 1 << 63, 1 << 63, b"x")
    with pytest.raises(StoreError) as info:
        store.commit([bad], [], [])
    assert not info.value.transient
    store.commit([(1.0, 1, "r", "q", 1, 1, b"y")], [], [])  # not "within a transaction"
    assert store.count() == 1
    store.close()


def test_a_bad_write_in_a_group_commit_fails_alone(tmp_path: Path) -> None:
    import asyncio

    from sanctum_svc.store_thread import AsyncStore, CommitJob

    store = EventStore(str(tmp_path / "s.sqlite"))
    store.open()

    async def run() -> list[StoreError | None]:
        astore = AsyncStore(store)
        loop = asyncio.get_running_loop()
        done: list[asyncio.Future[StoreError | None]] = []
        rows = [(1.0, 1, "r", "a", 1, 1, b"a"), (1.0, 1, "r", "b", 1 << 63, 1 << 63, b"b"),
                (1.0, 1, "r", "c", 1, 1, b"c")]
        await astore.call(lambda: None)  # the store thread knows the loop
        for row in rows:
            fut: asyncio.Future[StoreError | None] = loop.create_future()
            done.append(fut)
            astore.submit(CommitJob([row], [], [], 0,
                                    lambda job, err, f=fut: f.set_result(err)))
        out = [await f for f in done]
        await astore.close()
        return out

    results = asyncio.run(run())
    assert results[1] is not None and not results[1].transient
    store.open()
    written = {r[0] for r in store.db.execute("SELECT producer_id FROM batches")}
    store.close()
    # Written one by one after the group failed: those before the culprit stay written;
    # those after it were planned on top of it and are refused (resent by their producer).
    assert "a" in written and "b" not in written
    assert results[0] is None and results[2] is not None and results[2].transient
