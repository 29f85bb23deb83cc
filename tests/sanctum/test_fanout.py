"""Fan-out under a stalled subscriber: bounded memory, others unaffected, latest on resume,
disconnect after the stall deadline."""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

import grpc
import psutil
import pytest

from esper.sanctum.v2 import sanctum_pb2 as spb
from testkit import ThreadedSanctum, wait_for
from tests.sanctum.watch import Watcher

STALL_S = 3.0


class Feeder:
    """Keeps ingesting a long run in small batches on a thread, like a live trainer."""

    def __init__(self, server: ThreadedSanctum, events: list, per_batch: int = 4,
                 pause: float = 0.01) -> None:
        self.server, self.events = server, events
        self.per_batch, self.pause = per_batch, pause
        self.stop = threading.Event()
        self.sent = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with self.server.channel() as ch:
            stub = self.server.stub(ch)

            def requests():  # noqa: ANN202
                from testkit import batches
                for req in batches(self.events, self.per_batch):
                    if self.stop.is_set():
                        return
                    self.sent += len(req.batch.events)
                    yield req
                    time.sleep(self.pause)

            stub.Ingest(requests(), timeout=120)

    def __enter__(self) -> Feeder:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)


def _subscribers(server: ThreadedSanctum) -> int:
    assert server.server is not None and server.server.fanout is not None
    return server.in_loop(lambda: server.server.fanout.subscriber_count)


@pytest.mark.fault
@pytest.mark.slow
def test_stalled_subscriber_gets_latest_not_backlog(make_events) -> None:
    events = make_events("live", n_batches=400)
    rss = psutil.Process()
    with ThreadedSanctum(stall_timeout=60) as server:
        server.ingest(events[:50])
        with Watcher(server, "live", max_hz=10) as fast, Feeder(server, events[50:]) as feed:
            stalled_ch = server.channel(subscriber=True)
            stalled = server.stub(stalled_ch).WatchSnapshots(
                spb.WatchSnapshotsRequest(run_id="live", max_hz=10))
            first = next(stalled)
            assert first.HasField("snapshot")
            time.sleep(0.5)
            rss_before = rss.memory_info().rss
            fast_before = len(fast.snapshots())
            stall_at = time.monotonic()
            time.sleep(STALL_S)  # the stalled subscriber reads nothing meanwhile
            # Others keep being served (10 Hz asked: 15 snapshots take 1.5 s unloaded; the
            # rate is printed, not asserted: a loaded machine is slow, not wrong).
            wait_for(lambda: len(fast.snapshots()) - fast_before >= STALL_S * 10 * 0.5,
                     what="snapshots to the reading subscriber while another is stalled")
            fast_during = len(fast.snapshots()) - fast_before
            print(f"\nreading subscriber: {fast_during / (time.monotonic() - stall_at):.1f} "
                  "snapshots/s while another was stalled")
            rss_after = rss.memory_info().rss
            # Memory stays flat: nothing queues per subscriber.
            assert rss_after - rss_before < 20 * 1024 * 1024
            # Resume: within a few messages it gets a current snapshot, not a backlog.
            resume_at = time.monotonic()
            sent_at_resume = feed.sent
            for got, msg in enumerate(stalled, start=1):
                if msg.HasField("snapshot") and (
                        msg.snapshot.delivery.events_received >= 50 + sent_at_resume - 8):
                    break
                assert got < 15, "resumed subscriber is replaying a backlog"
            print(f"resumed subscriber current after {time.monotonic() - resume_at:.2f} s")
            stalled.cancel()
            stalled_ch.close()
        assert server.ingest(events[:5]).events_duplicate == 5  # ingest still fine


@pytest.mark.fault
def test_stalled_past_deadline_is_disconnected(make_events) -> None:
    events = make_events("stall", n_batches=600)
    with ThreadedSanctum(stall_timeout=1.0) as server:
        server.ingest(events[:10])
        with Watcher(server, "stall", max_hz=20) as fast, \
                Feeder(server, events[10:], per_batch=2, pause=0.002):
            ch = grpc.insecure_channel(server.address, options=[
                ("grpc.http2.bdp_probe", 0), ("grpc.http2.lookahead_bytes", 1024)])
            stalled = server.stub(ch).WatchSnapshots(
                spb.WatchSnapshotsRequest(run_id="stall", max_hz=30))
            next(stalled)
            assert _subscribers(server) == 2
            deadline = time.monotonic() + 20
            while _subscribers(server) > 1 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert _subscribers(server) == 1, "the stalled subscriber was not disconnected"
            assert not fast.ended.is_set(), "the reading subscriber must stay connected"
            # grpc.aio cannot reset a stream whose write is blocked: the server closes the
            # stalled connection instead (that frees what the call held), so the stalled
            # client learns of it once it reads what was already delivered.
            ended: list[grpc.StatusCode] = []

            def drain() -> None:
                try:
                    for _ in stalled:
                        pass
                except grpc.RpcError as err:
                    ended.append(err.code())

            reader = threading.Thread(target=drain, daemon=True)
            reader.start()
            reader.join(15)
            assert ended == [grpc.StatusCode.UNAVAILABLE], ended
            ch.close()
            assert server.server is not None
            stalled_count = server.server.metrics.stalled._value.get()
            assert stalled_count == 1


def _two_streams(server: ThreadedSanctum, run_id: str) -> tuple[grpc.Channel, Any, Any]:
    """One connection (small flow-control windows) carrying two WatchSnapshots streams:
    (channel, the stream the test reads, one that has read its first message only)."""
    ch = grpc.insecure_channel(server.address, options=[
        ("grpc.http2.bdp_probe", 0), ("grpc.http2.lookahead_bytes", 1024)])
    stub = server.stub(ch)
    reading = stub.WatchSnapshots(spb.WatchSnapshotsRequest(run_id=run_id, max_hz=20))
    stalled = stub.WatchSnapshots(spb.WatchSnapshotsRequest(run_id=run_id, max_hz=30))
    next(stalled)
    return ch, reading, stalled


@pytest.mark.fault
def test_stalled_stream_sharing_a_connection_with_a_reader(make_events) -> None:
    """One connection, two streams: the one that stopped reading is dropped, but the
    connection stays open for the one that reads."""
    events = make_events("share", n_batches=600)
    with ThreadedSanctum(stall_timeout=1.0) as server:
        server.ingest(events[:10])
        ch, reading, stalled = _two_streams(server, "share")
        got: list[int] = []

        def read() -> None:
            with contextlib.suppress(grpc.RpcError):  # CANCELLED at the end of the test
                for m in reading:
                    got.append(m.snapshot.version)

        threading.Thread(target=read, daemon=True).start()
        with Feeder(server, events[10:], per_batch=2, pause=0.002):
            deadline = time.monotonic() + 20
            while _subscribers(server) > 1 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert _subscribers(server) == 1, "the stalled stream was not dropped"
            seen = len(got)
            wait_for(lambda: len(got) > seen,
                     what="a snapshot on the reading stream that shares the connection")
        reading.cancel()
        stalled.cancel()
        ch.close()


def test_connection_closed_once_its_last_reader_stalls_too(make_events) -> None:
    """Two streams on one connection stall one after the other: the first is dropped while
    the second still reads (the connection stays), and when the second stalls as well the
    connection is closed, so neither stays listed (the first, its write still blocked, does
    not keep the connection open on its own behalf)."""
    events = make_events("both", n_batches=3000)
    with ThreadedSanctum(stall_timeout=1.0) as server:
        server.ingest(events[:10])
        ch, reading, first = _two_streams(server, "both")
        stop, never = threading.Event(), threading.Event()
        got: list[int] = []

        def read() -> None:
            with contextlib.suppress(grpc.RpcError):
                for m in reading:
                    got.append(m.snapshot.version)
                    if stop.is_set():
                        never.wait(3600)  # stops reading: this stream stalls too

        threading.Thread(target=read, daemon=True).start()
        with Feeder(server, events[10:], per_batch=2, pause=0.002):
            wait_for(lambda: _subscribers(server) == 1, timeout=20,
                     what="the first stalled stream dropped")
            seen = len(got)
            wait_for(lambda: len(got) > seen, what="the reader still served")
            stop.set()
            wait_for(lambda: _subscribers(server) == 0, timeout=20,
                     what="the connection closed once its last reader stalled")
        reading.cancel()
        first.cancel()
        ch.close()


def test_snapshot_built_at_most_max_hz_per_run_for_many_subscribers(make_events) -> None:
    """Eight subscribers due at different moments while every batch changes the version:
    builds stay near max_hz per run (they share one build per 1/max_hz), and every
    subscriber still converges on the final state."""
    events = make_events("hz", n_batches=400)
    with ThreadedSanctum(max_hz=10) as server:
        assert server.server is not None
        server.ingest(events[:10])
        registry = server.server.metrics.registry

        def builds() -> float:
            return registry.get_sample_value("sanctum_snapshot_build_seconds_count") or 0.0

        watchers = []
        for _ in range(8):
            watchers.append(Watcher(server, "hz", max_hz=10))
            time.sleep(0.013)  # spread their phases over the 100 ms period
        try:
            for w in watchers:
                assert w.wait_for(lambda s: True, timeout=10) is not None
            start, t0 = builds(), time.monotonic()
            with Feeder(server, events[10:], per_batch=4, pause=0.005) as feeder:
                time.sleep(1.5)
            elapsed = time.monotonic() - t0
            assert feeder.sent > 100, "the feeder kept the version moving"
            assert builds() - start <= 10 * elapsed * 1.5 + 3
            final = server.snapshot("hz").version
            for w in watchers:
                assert w.wait_for(lambda s: s.version >= final, timeout=10) is not None
        finally:
            for w in watchers:
                w.close()


def test_due_subscriber_waits_for_the_next_build_not_a_whole_interval(make_events) -> None:
    """A subscriber due while the shared build is behind the run gets the newer state once
    the build may be redone (< 1/max_hz), not the stale bytes now and the new one a whole
    interval (here 4 s) later."""
    events = make_events("lead", n_batches=3)
    with ThreadedSanctum(max_hz=1.0) as server:
        server.ingest(events[:1])
        with Watcher(server, "lead", max_hz=0.25) as slow:
            assert slow.wait_count(1)
            t0 = slow.messages[0][0]
            time.sleep(max(0.0, t0 + 2.0 - time.monotonic()))  # liveness stays LIVE
            server.ingest(events[1:2])  # slow is asleep until t0 + 4 s
            time.sleep(max(0.0, t0 + 3.4 - time.monotonic()))
            with Watcher(server, "lead", max_hz=1.0) as other:  # builds at ~t0 + 3.4
                assert other.wait_count(1)
                time.sleep(max(0.0, t0 + 3.6 - time.monotonic()))
                sent_at = time.monotonic()
                server.ingest(events[2:3])  # newer than the build slow finds due at t0 + 4
                got = slow.wait_for(lambda s: s.delivery.events_applied >= 3, timeout=8)
                assert got is not None
                arrived = next(t for t, m in slow.messages if m.HasField("snapshot")
                               and m.snapshot.delivery.events_applied >= 3)
    # Stale-then-interval would deliver at t0 + 8 s, 4.4 s after the send.
    assert arrived - sent_at < 2.0, arrived - sent_at
    assert [m.snapshot.delivery.events_applied for _, m in slow.messages
            if m.HasField("snapshot")][:2] == [1, 3]
