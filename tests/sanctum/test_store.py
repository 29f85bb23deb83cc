"""The embedded store: restart serves the same snapshots; a full disk refuses, then recovers."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.telemetry.v1 import telemetry_pb2 as tpb
from sanctum_svc.store import SCHEMA_VERSION, EventStore, StoreError
from testkit import ThreadedSanctum, comparable


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
        srv = server.server
        assert srv is not None and srv.pipeline is not None
        # The clean stop left a checkpoint of everything: nothing is left to replay.
        assert srv.pipeline.restored_events == len(a) + len(b) and srv.replayed == 0
        for run_id, snap in before.items():
            after = server.snapshot(run_id)
            assert comparable(after) == comparable(snap), run_id
            # Receive times are persisted too, so even time-derived fields agree.
            assert after.run.last_event_time == snap.run.last_event_time
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
        ro.commit([(0.0, 1, "r", "p", 1, 1, b"")], [], [])
    db.close()


def test_replay_order_and_chunks(tmp_path: Path) -> None:
    store = EventStore(str(tmp_path / "o.sqlite"))
    store.open()
    rows = [(float(i), 1, "r", "p", i, i, bytes([i % 256])) for i in range(1, 5001)]
    store.commit(rows[:10], [], [])
    store.commit_many([(rows[10:2000], [], []), (rows[2000:], [], [])])
    got = [t for chunk in store.replay(chunk=700) for t, _, _ in chunk]
    assert got == [float(i) for i in range(1, 5001)]
    assert store.count() == 5000
    store.close()


def _legacy_store(path: Path, events: list[tpb.TelemetryEvent], received_at: float) -> None:
    """A store in the layout written before format versions: one row per event."""
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript("""
        CREATE TABLE events (id INTEGER PRIMARY KEY, run_id TEXT NOT NULL,
            producer_id TEXT NOT NULL, seq INTEGER NOT NULL, received_at REAL NOT NULL,
            event BLOB NOT NULL, UNIQUE (run_id, producer_id, seq));
        CREATE TABLE drops (run_id TEXT NOT NULL, producer_id TEXT NOT NULL,
            dropped_total INTEGER NOT NULL, PRIMARY KEY (run_id, producer_id));
        CREATE TABLE delivery (run_id TEXT PRIMARY KEY, stats BLOB NOT NULL);
    """)
    db.executemany("INSERT INTO events (run_id, producer_id, seq, received_at, event) "
                   "VALUES (?, ?, ?, ?, ?)",
                   [(e.run_id, e.producer_id, e.seq, received_at, e.SerializeToString())
                    for e in events])
    db.close()


def test_store_from_before_format_versions_replays_then_grows(tmp_path: Path,
                                                             make_events) -> None:
    events = make_events("old", n_batches=4)
    path = tmp_path / "legacy.sqlite"
    _legacy_store(path, events[:20], 1000.0)
    with ThreadedSanctum() as fresh:
        fresh.ingest(events[:20])
        expected = comparable(fresh.snapshot("old"))
    with ThreadedSanctum(store=str(path)) as server:
        assert server.server is not None and server.server.replayed == 20
        assert comparable(server.snapshot("old")) == expected
        assert server.cursor("old") == {"trainer-0": 20}
        reply = server.ingest(events[10:])  # resent overlap: duplicates, then new events
        assert (reply.events_duplicate, reply.events_applied) == (10, len(events) - 20)
        before = server.snapshot("old")
    with ThreadedSanctum(store=str(path)) as server:  # from the checkpoint the stop wrote
        assert server.server is not None and server.server.replayed == 0
        assert comparable(server.snapshot("old")) == comparable(before)
    with ThreadedSanctum(store=str(path), checkpoint_every_events=0, checkpoint_every_s=0.0
                         ) as server:  # replayed whole: old rows first, then new batches
        assert server.server is not None and server.server.pipeline is not None
        assert server.server.pipeline.restored_events == len(events)
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM checkpoints")
    with ThreadedSanctum(store=str(path), checkpoint_every_events=0, checkpoint_every_s=0.0
                         ) as server:
        assert server.server is not None and server.server.replayed == len(events)
        assert comparable(server.snapshot("old")) == comparable(before)
        assert server.cursor("old") == {"trainer-0": len(events)}


def test_store_from_a_newer_version_or_not_a_store_is_refused(tmp_path: Path) -> None:
    newer = tmp_path / "newer.sqlite"
    db = sqlite3.connect(newer, isolation_level=None)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StoreError, match="newer esper-sanctum"):
        EventStore(str(newer)).open()
    other = tmp_path / "other.sqlite"
    db = sqlite3.connect(other, isolation_level=None)
    db.execute("CREATE TABLE customers (id INTEGER)")
    db.close()
    with pytest.raises(StoreError, match="not an esper-sanctum store"):
        EventStore(str(other)).open()
    text = tmp_path / "notes.txt"
    text.write_text("not a database at all\n" * 100)
    with pytest.raises(StoreError, match="not a readable esper-sanctum store"):
        EventStore(str(text)).open()


def test_disk_full_mid_stream_applies_a_prefix_then_resumes(tmp_path: Path,
                                                           make_events) -> None:
    """Several batches in flight when the store fills up: the ones committed before are
    applied, the failing one and every one queued behind it are not (the cursor and the
    snapshot agree), and resuming from the cursor gives the uninterrupted result."""
    events = make_events("mid", n_batches=120)
    with ThreadedSanctum() as reference:
        reference.ingest(events)
        expected = comparable(reference.snapshot("mid"))
    with ThreadedSanctum(store=str(tmp_path / "m.sqlite")) as server:
        srv = server.server
        assert srv is not None
        server.ingest(events[:64])
        pages = server.call(srv.store_call(srv.store.page_count))
        server.call(srv.store_call(srv.store.limit_pages, pages + 6))
        with pytest.raises(grpc.RpcError) as err:
            server.ingest(events[64:], batch_size=32)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        cursor = server.cursor("mid")["trainer-0"]
        assert 64 <= cursor < len(events)
        snap = server.snapshot("mid")
        assert snap.delivery.events_applied == cursor
        with ThreadedSanctum() as prefix:  # the state is exactly that of the first events
            prefix.ingest(events[:cursor])
            assert comparable(prefix.snapshot("mid")).envs == comparable(snap).envs
            assert comparable(prefix.snapshot("mid")).tamiyo == comparable(snap).tamiyo
        server.call(srv.store_call(srv.store.limit_pages, None))
        assert server.ingest(events[cursor:]).events_applied == len(events) - cursor
        final = comparable(server.snapshot("mid"))
        assert final.envs == expected.envs and final.tamiyo == expected.tamiyo
        assert final.histories == expected.histories


def test_cancelled_stream_keeps_store_and_state_equal(tmp_path: Path, make_events) -> None:
    """A client that goes away mid-stream: whatever was committed is applied (batches still
    in flight finish after the call ends), so a restart replays to the same snapshot."""
    import threading

    from testkit import batches

    store = str(tmp_path / "c.sqlite")
    events = make_events("cancel", n_batches=150)
    sent = threading.Event()

    def requests():  # noqa: ANN202
        for n, req in enumerate(batches(events, 16)):
            if n == 40:
                sent.set()
                threading.Event().wait(30)  # hold the stream open until cancelled
            yield req

    with ThreadedSanctum(store=store) as server:
        with server.channel() as ch:
            call = server.stub(ch).Ingest.future(requests(), timeout=60)
            assert sent.wait(20)
            call.cancel()
        applied = -1
        for _ in range(50):  # until the batches that were in flight have settled
            threading.Event().wait(0.2)
            now = server.snapshot("cancel").delivery.events_applied
            if now == applied:
                break
            applied = now
        before = server.snapshot("cancel")
        cursor = server.cursor("cancel")["trainer-0"]
        assert before.delivery.events_applied == cursor <= 16 * 40
    with ThreadedSanctum(store=store) as server:
        assert comparable(server.snapshot("cancel")) == comparable(before)
        assert server.cursor("cancel")["trainer-0"] == cursor



def test_a_stream_stops_at_its_failed_batch(tmp_path: Path, make_events) -> None:
    """Regression (a flaky gap seen in CI): batch F of a stream fails to be written; the
    stream's next batch H, arriving after F's failure was reported and once the disk has
    room again, used to be planned on the fallen-back state and applied, so F's events
    became a gap and their resend a duplicate: lost. Now the stream ends at F with
    UNAVAILABLE, the cursor stays before F, and a resend from it applies everything."""
    events = make_events("hole", n_batches=20)
    assert len(events) >= 96
    with ThreadedSanctum(store=str(tmp_path / "h.sqlite")) as server:
        srv = server.server
        assert srv is not None
        server.ingest(events[:32])
        full_at = server.call(srv.store_call(srv.store.page_count))
        server.call(srv.store_call(srv.store.limit_pages, full_at))
        epoch = server.in_loop(lambda: srv.pipeline.epoch)

        def requests() -> Iterator[spb.IngestRequest]:
            yield spb.IngestRequest(batch=tpb.EventBatch(events=events[32:64]))  # F: fails
            deadline = time.monotonic() + 20
            while server.in_loop(lambda: srv.pipeline.epoch) == epoch:  # F's failure is in
                assert time.monotonic() < deadline, "the write never failed"
                time.sleep(0.01)
            server.call(srv.store_call(srv.store.limit_pages, None))
            yield spb.IngestRequest(batch=tpb.EventBatch(events=events[64:96]))  # H

        with server.channel() as channel, pytest.raises(grpc.RpcError) as err:
            server.stub(channel).Ingest(requests(), metadata=server.metadata, timeout=30)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        assert server.cursor("hole") == {"trainer-0": 32}
        assert server.snapshot("hole").delivery.gap_events == 0
        reply = server.ingest(events[32:])
        assert (reply.events_applied, reply.events_duplicate) == (len(events) - 32, 0)
        delivery = server.snapshot("hole").delivery
        assert (delivery.events_applied, delivery.gap_events) == (len(events), 0)
