"""The embedded store: restart serves the same snapshots; a full disk refuses, then recovers."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import grpc
import pytest

from esper.telemetry.v1 import telemetry_pb2 as tpb
from sanctum_svc.store import EventStore, StoreError
from sanctum_svc.testing import ThreadedSanctum, comparable


def test_restart_serves_same_snapshots(tmp_path: Path, make_events) -> None:
    store = str(tmp_path / "s.sqlite")
    a = make_events("run-a", n_batches=3)
    b = make_events("run-b", producer_id="p", n_batches=1)
    drops = [tpb.ProducerDrops(run_id="run-a", producer_id="trainer-0", dropped_total=4)]
    with ThreadedSanctum(store=store) as server:
        server.ingest(a[:20], batch_size=7)
        server.ingest(b)
        server.ingest(a[15:], batch_size=5, drops=drops)  # overlaps: duplicates counted
        bad = tpb.TelemetryEvent()
        bad.CopyFrom(a[-1])
        bad.seq = 0
        with pytest.raises(grpc.RpcError):
            server.ingest([bad])
        before = {r: server.snapshot(r) for r in ("run-a", "run-b")}
        cursors = server.cursor("run-a")
    with ThreadedSanctum(store=store) as server:
        assert server.server is not None and server.server.replayed == len(a) + len(b)
        for run_id, snap in before.items():
            after = server.snapshot(run_id)
            assert comparable(after) == comparable(snap), run_id
            # Receive times are persisted too, so even time-derived fields agree.
            assert after.last_event_time == snap.last_event_time
        assert server.cursor("run-a") == cursors
        d = server.snapshot("run-a").delivery
        assert (d.events_duplicate, d.events_rejected, d.producer_dropped) == (5, 1, 4)
        # And it keeps going where it left off.
        more = make_events("run-a", n_batches=4)[len(a):]
        assert server.ingest(more).events_applied == len(more)


def test_full_disk_refuses_then_recovers(tmp_path: Path, make_events) -> None:
    events = make_events("full", n_batches=6)
    with ThreadedSanctum(store=str(tmp_path / "f.sqlite")) as server:
        srv = server.server
        assert srv is not None
        server.ingest(events[:5])
        before = comparable(server.snapshot("full"))
        pages = server.call(srv.store_call(srv.store.page_count))
        server.call(srv.store_call(srv.store.limit_pages, pages))
        big = [tpb.TelemetryEvent() for _ in events[5:]]
        for b, e in zip(big, events[5:], strict=True):
            b.CopyFrom(e)
            b.group_id = ""  # unchanged content; the batch just needs new pages
        with pytest.raises(grpc.RpcError) as err:
            server.ingest(big * 1, batch_size=len(big))
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "persist" in err.value.details()
        assert comparable(server.snapshot("full")) == before, "nothing applied"
        assert server.cursor("full") == {"trainer-0": 5}
        server.call(srv.store_call(srv.store.limit_pages, None))
        assert server.ingest(events[5:]).events_applied == len(events) - 5


def test_unwritable_store_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        EventStore(str(tmp_path / "missing" / "s.sqlite")).open()
    path = tmp_path / "ro.sqlite"
    EventStore(str(path)).open()
    ro = EventStore(f"file:{path}?mode=ro")
    ro.path = str(path)
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False,
                         isolation_level=None)
    ro._db = db  # a read-only connection: every write fails like a read-only disk
    with pytest.raises(StoreError, match="cannot write"):
        ro.commit([("r", "p", 1, 0.0, b"")], [], [])
    db.close()


def test_replay_order_and_chunks(tmp_path: Path) -> None:
    store = EventStore(str(tmp_path / "o.sqlite"))
    store.open()
    rows = [("r", "p", i, float(i), bytes([i % 256])) for i in range(1, 5001)]
    store.commit(rows, [], [])
    got = [t for chunk in store.replay(chunk=700) for t, _ in chunk]
    assert got == [float(i) for i in range(1, 5001)]
    assert store.count() == 5000
    store.close()
