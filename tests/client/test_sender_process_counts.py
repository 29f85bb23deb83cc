"""Counters stay exact across a sender child's death (TelemetryConfig.sender_process): an
event the dead child already counted (rejected by sanctum or locally, dropped by the policy)
but had not confirmed safe is handed to the next child, which must not count it again; and
each event is counted once in acked + rejected + dropped, against a real sanctum.

Each test kills the child at a point it is held at, never at a moment hoped for: a frozen
sanctum (SIGSTOP) holds acks back, and a `Gate` event holds the child's sender thread in
the middle of building events until the test opens it."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_client import TelemetryClient, TelemetryConfig
from esper_client import sender as sender_module
from esper_client import sidecar as sidecar_module
from esper_client.buffer import OutBuffer
from esper_client.deferred import Call, Deferred
from esper_client.policy import DropPolicy
from esper_client.spool import Spool
from esper_common.eventfile import read_batches
from testkit import SanctumProcess, ThreadedSanctum
from testkit.held import HeldAcks
from tests.client.test_ingest_stream_sender import epoch
from tests.client.test_sender_process import child_pid, process_client
from tests.client.test_telemetry_client_sanctum import _snapshot_over, wait_for

#: Long enough that a call to the frozen sanctum is still waiting when it is thawed.
PATIENT = {"rpc_timeout_s": 60.0}


class Gate(Deferred):
    """An epoch event whose build waits until the file `path` exists: it holds the child's
    sender thread inside `_drain`, before it sends anything queued after its last send."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        super().__init__(None)
        self.event_type = tpb.EVENT_TYPE_EPOCH_COMPLETED
        self.path = path

    def build(self) -> tpb.TelemetryEvent:
        deadline = time.monotonic() + 60.0
        while not os.path.exists(self.path) and time.monotonic() < deadline:
            time.sleep(0.01)
        return epoch(99)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SanctumProcess]:
    proc = SanctumProcess(str(tmp_path / "store.sqlite"))
    proc.start()
    try:
        yield proc
    finally:
        proc.kill()


def nan_epoch(i: int) -> tpb.TelemetryEvent:
    ev = epoch(i)
    ev.epoch_completed.reward = float("nan")  # sanctum refuses it: not finite
    return ev


def status(client: TelemetryClient) -> dict[str, int]:
    """The current child's status page (its own counters and `received`)."""
    sidecar = client._sidecar
    assert sidecar is not None and sidecar._page is not None
    return sidecar._page.read()


def kill_child(client: TelemetryClient, server: SanctumProcess) -> None:
    """SIGKILL the child and wait until the writer has replaced it (or, when no restart is
    left, handed the tail to the in-process sender); thaw sanctum after."""
    sidecar = client._sidecar
    assert sidecar is not None
    first = child_pid(client)
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: sidecar.restarts == 1 or sidecar.fallback is not None)
    assert server.proc is not None
    server.proc.send_signal(signal.SIGCONT)
    if sidecar.fallback is None:
        assert child_pid(client) != first


def assert_counted_once(client: TelemetryClient, server: SanctumProcess, run_id: str,
                        acked: int, rejected: int) -> dict[str, int]:
    client.close(timeout=20)
    stats = client.stats()
    delivery = _snapshot_over(server.address, run_id).delivery
    assert stats["acked"] + stats["rejected"] + stats["dropped"] == stats["emitted"], stats
    assert (stats["acked"], stats["rejected"]) == (acked, rejected), stats
    assert delivery.events_applied == acked
    assert delivery.events_duplicate <= stats["resent"]
    assert stats["lost"] == stats["undelivered"] == stats["pending"] == 0
    return stats


def emit_nan(client: TelemetryClient) -> None:
    client.emit(nan_epoch(2))


def emit_unbuildable(client: TelemetryClient) -> None:
    """A carrier that cannot cross to the child (a lambda) nor be built: the training
    process builds a stand-in, which must keep the carrier's seq."""
    call = Call()
    call.event_type = tpb.EVENT_TYPE_EPOCH_COMPLETED
    call.fn = lambda: epoch(int("not a number"))
    client.emit_deferred(call)


@pytest.mark.parametrize("emit_bad", [emit_nan, emit_unbuildable])
def test_an_event_sanctum_rejected_is_not_counted_again_by_the_next_child(
        server: SanctumProcess, tmp_path: Path,
        emit_bad: Callable[[TelemetryClient], None]) -> None:
    """The child has counted seq 2 rejected while seq 3, taken with it, is not yet acked
    (so `safe` is still 1 and seq 2 is in the unsafe tail); then it dies."""
    gate = tmp_path / "gate"
    client = process_client(server.address, "rej", tmp_path, ingest_stream=False,
                            batch_max_events=1, **PATIENT)
    client.start()
    client.emit(epoch(1))
    wait_for(lambda: client.stats()["acked"] == 1)
    server.freeze()  # the next Ingest call waits: the gate queues behind it
    emit_bad(client)
    client.emit(epoch(3))
    wait_for(lambda: client.stats()["sent"] >= 2)
    client.emit_deferred(Gate(str(gate)))
    wait_for(lambda: status(client).get("received") == 4)
    assert server.proc is not None
    server.proc.send_signal(signal.SIGCONT)  # seq 2 is refused; the gate then holds the
    wait_for(lambda: client.stats()["rejected"] == 1)  # sender before seq 3 is sent again
    assert status(client)["safe"] == 1 and client.stats()["acked"] == 1
    kill_child(client, server)
    gate.touch()
    assert_counted_once(client, server, "rej", acked=3, rejected=1)


@pytest.mark.parametrize("next_sender", ["child", "thread"])
def test_an_event_rejected_locally_is_not_counted_again_by_the_next_child(
        server: SanctumProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        next_sender: str) -> None:
    """An event over max_event_bytes, refused in the child while the one before it waits
    for an ack from a frozen sanctum; the tail goes to a new child, or (no restart left)
    to the in-process sender thread."""
    if next_sender == "thread":
        monkeypatch.setattr(sidecar_module, "MAX_RESTARTS", 0)
    client = process_client(server.address, "big", tmp_path, max_event_bytes=4096, **PATIENT)
    client.start()
    client.emit(epoch(1))
    wait_for(lambda: client.stats()["acked"] == 1)
    server.freeze()
    client.emit(epoch(2))
    wait_for(lambda: client.stats()["sent"] == 2)
    client.emit(tpb.TelemetryEvent(
        event_type=tpb.EVENT_TYPE_TRAINING_COMPLETED,
        training_completed=tpb.TrainingCompletedPayload(status="x" * 10_000)))
    wait_for(lambda: client.stats()["rejected"] == 1)
    assert status(client)["safe"] == 1
    kill_child(client, server)
    assert (client._sidecar is not None
            and (client._sidecar.fallback is not None) == (next_sender == "thread"))
    assert_counted_once(client, server, "big", acked=2, rejected=1)


def test_events_the_dead_child_dropped_are_counted_once(
        server: SanctumProcess, tmp_path: Path) -> None:
    """The child's spool is full (sanctum frozen), so the policy drops epochs; the next
    child is handed them again and delivers (or drops) each once."""
    n = 60
    client = process_client(server.address, "drop", tmp_path, memory_buffer_events=1,
                            spool_max_bytes=200, spool_segment_bytes=200, **PATIENT)
    client.start()
    client.emit(epoch(0))
    wait_for(lambda: client.stats()["acked"] == 1)
    server.freeze()
    for i in range(1, n):
        client.emit(epoch(i))
    wait_for(lambda: status(client).get("received") == n and client.stats()["dropped"] > 0)
    kill_child(client, server)
    client.close(timeout=20)
    stats = client.stats()
    delivery = _snapshot_over(server.address, "drop").delivery
    assert stats["emitted"] == n
    assert stats["acked"] + stats["rejected"] + stats["dropped"] == n, stats
    assert delivery.events_applied == stats["acked"]
    assert delivery.events_duplicate <= stats["resent"]


def test_a_cursor_ahead_of_the_outbox_does_not_make_unsent_events_safe(
        tmp_path: Path) -> None:
    """A replacement child learns sanctum's cursor before it has sent (or counted) the
    events the dead one delivered: `acked_through`, which the child's `safe` rests on,
    must not cover events still queued."""
    buf = OutBuffer(100, Spool(tmp_path / "spool", 1 << 20), 1 << 20, DropPolicy(10))
    buf.extend([(seq, tpb.EVENT_TYPE_EPOCH_COMPLETED, b"x") for seq in range(1, 11)])
    assert buf.ack_through(8) == 0  # nothing was taken: nothing is acknowledged yet
    assert buf.acked_through == 0
    taken = buf.take(5)
    assert buf.ack_through(8) == 5 and buf.acked_through == 5
    assert [it[0] for it in taken] == [1, 2, 3, 4, 5]


def test_events_a_replacement_learned_from_the_cursor_are_counted_by_someone(
        tmp_path: Path) -> None:
    """The reverse: the first child's events are applied but their acks never reach it; it
    dies. Its replacement reads sanctum's cursor past them and sends them again, but the
    acks are held: those events are counted by nobody yet, so its `safe` must not cover
    them. It dies too; the third child must still deliver (and count) them."""
    with ThreadedSanctum() as server:
        client = process_client(server.address, "nobody", tmp_path, **PATIENT)
        client.start()
        client.emit(epoch(1))
        wait_for(lambda: client.stats()["acked"] == 1)
        with HeldAcks(server) as held:  # written (the cursor moves), not acknowledged
            client.emit(epoch(2))
            client.emit(epoch(3))
            wait_for(lambda: server.cursor("nobody").get("trainer-0") == 3)
            sidecar = client._sidecar
            assert sidecar is not None
            os.kill(child_pid(client), signal.SIGKILL)
            wait_for(lambda: sidecar.restarts == 1)
            # The replacement read the cursor (3), then sent 2 and 3 again:
            wait_for(lambda: status(client).get("sent") == 2)
            os.kill(child_pid(client), signal.SIGKILL)
            wait_for(lambda: sidecar.restarts == 2)
            held.release()
        client.close(timeout=20)
        stats = client.stats()
        delivery = server.snapshot("nobody").delivery
    assert stats["emitted"] == stats["acked"] == delivery.events_applied == 3, stats
    assert delivery.events_duplicate <= stats["resent"]


def test_close_counts_a_backlog_larger_than_one_drain(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """At close the sender saves all that is queued, not one drain's worth (_MAX_DRAIN):
    the rest was neither saved nor counted (in a sender child: `safe` stayed behind while
    the events it saved were counted, so the tail handed on was counted twice)."""
    monkeypatch.setattr(sender_module, "_MAX_DRAIN", 10)
    cfg = TelemetryConfig(None, run_id="r", producer_id="p", file_path=str(tmp_path / "ev"),
                          spool_dir=str(tmp_path / "spool"))
    ingress: deque[tuple[tpb.TelemetryEvent, int]] = deque()
    for seq in range(1, 26):
        ev = epoch(seq)
        ev.seq = seq
        ingress.append((ev, time.time_ns()))
    sender = sender_module.Sender(cfg, ingress, threading.Event(), lambda: 0)
    sender.request_close(time.monotonic())  # already due: nothing is sent, all is saved
    sender.run()
    assert not ingress
    assert sender.counters()["undelivered"] == 25
    saved = [ev.seq for batch in read_batches(cfg.undelivered_path()) for ev in batch.events]
    assert saved == list(range(1, 26))


def test_stats_read_while_children_die_neither_fails_nor_counts_twice(
        tmp_path: Path, server: SanctumProcess) -> None:
    """stats() runs on the caller's thread while the writer retires a dead child (folds its
    counters into the base, closes its status page): it must never see both halves, nor a
    closed page."""
    client = process_client(server.address, "stats-race", tmp_path)
    client.start()
    n = 50
    for i in range(n):
        client.emit(epoch(i))
    wait_for(lambda: client.stats()["acked"] == n)
    seen: list[int] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            try:
                seen.append(client.stats()["acked"])
            except BaseException as exc:  # noqa: BLE001 - what the test looks for
                errors.append(exc)
                return

    reader = threading.Thread(target=hammer, daemon=True)
    reader.start()
    sidecar = client._sidecar
    assert sidecar is not None
    try:
        for restarts in range(1, 4):
            os.kill(child_pid(client), signal.SIGKILL)
            wait_for(lambda r=restarts: sidecar.restarts == r and sidecar._proc is not None)
    finally:
        stop.set()
        reader.join(10)
        client.close(10)
    assert not errors, errors
    assert seen and max(seen) == n  # never the dead child's acks counted twice
    assert client.stats()["acked"] == n
