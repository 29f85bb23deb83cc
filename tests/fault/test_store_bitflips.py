"""24 single-byte flips in a stored event store: each one is detected, none served silently.

A store holding two runs is written and closed; then, one at a time, a byte is flipped:
16 inside stored batches (event content, run ids), 4 inside the stored delivery stats and
drop totals, 4 in SQLite's own structures (page headers, the schema page). A restart must
then either refuse the store with a message saying how to recover (no traceback), or skip
and count the damaged rows (`store.corrupt`); a restart that reports nothing must serve
exactly the snapshots of the undamaged store. `esper-sanctum store check` must agree.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from esper.sanctum.v2 import sanctum_pb2 as spb
from sanctum_svc.server import StartupError
from sanctum_svc.store_check import check_store
from testkit import ThreadedSanctum, build_run_events, comparable

pytestmark = pytest.mark.fault

RUNS = ("run-a", "run-b")


def _snapshots(server: ThreadedSanctum) -> dict[str, spb.SanctumSnapshot]:
    out = {}
    for run in RUNS:
        try:
            out[run] = comparable(server.snapshot(run))
        except Exception:  # noqa: BLE001 - a run lost to damage: a difference
            out[run] = spb.SanctumSnapshot()
    return out


def _positions(path: Path) -> list[tuple[str, int]]:
    """(what, file offset) of the 24 bytes to flip."""
    data = path.read_bytes()
    with sqlite3.connect(path) as db:
        blobs = [r[0] for r in db.execute("SELECT batch FROM batches ORDER BY id")]
        stats = [r[0] for r in db.execute("SELECT stats FROM delivery")]
        page = db.execute("PRAGMA page_size").fetchone()[0]
    out: list[tuple[str, int]] = []
    for k in range(16):
        blob = blobs[k * len(blobs) // 16]
        at = data.find(blob)
        assert at > 0, "batch stored in one piece"
        out.append((f"batch {k}", at + (k * 37) % len(blob)))
    for k, st in enumerate(stats[:2] * 2):
        at = data.find(st)
        assert at > 0
        out.append((f"delivery {k}", at + (k * 11 + 3) % len(st)))
    pages = len(data) // page
    for k, off in enumerate((100, 105, page * (pages // 2), page * (pages - 1))):
        out.append((f"sqlite structure {k}", off))
    assert len(out) == 24
    return out


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    path = tmp_path_factory.mktemp("flips") / "store.sqlite"
    with ThreadedSanctum(store=str(path)) as s:
        for run in RUNS:
            s.ingest(build_run_events(run, n_batches=4), batch_size=8)
        snaps = _snapshots(s)
    return path, snaps


@pytest.mark.parametrize("index", range(24))
def test_a_flipped_byte_is_detected_never_served(original: tuple[Path, dict], index: int,
                                                 tmp_path: Path) -> None:
    path, clean = original
    what, offset = _positions(path)[index]
    damaged = tmp_path / "store.sqlite"
    shutil.copy(path, damaged)
    data = bytearray(damaged.read_bytes())
    data[offset] ^= 0x5A
    damaged.write_bytes(bytes(data))

    # Every stored batch is read and checked (a restart from the checkpoint the stop wrote
    # would not read the damaged batch; `store check` below still finds it).
    server = ThreadedSanctum(store=str(damaged), replay_all=True)
    try:
        server.start()
    except StartupError as exc:  # refused, with a way out
        assert "store check" in str(exc) or "choose another" in str(exc), (what, exc)
        assert not check_store(str(damaged)).ok, what
        return
    try:
        assert server.server is not None
        corrupt = server.server.store.corrupt
        served = _snapshots(server)
    finally:
        server.stop()
    report = check_store(str(damaged))
    if corrupt:
        assert not report.ok, (what, report.text())
        return
    # Nothing reported: then nothing may have changed.
    assert what.startswith("sqlite structure"), f"{what}: damage went unnoticed"
    assert served == clean, f"{what}: served changed data without a word"
