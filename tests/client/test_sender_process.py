"""The client's sender in a child process (TelemetryConfig.sender_process) against a real
sanctum: exactly-once delivery, the child killed mid-run, sanctum down then up (spool), the
close deadline, stats, fork, Deferred carriers built in the child, and the fall-back to the
in-process sender when no child can start."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_client import TelemetryClient, TelemetryConfig
from esper_client import sidecar as sidecar_module
from esper_client.deferred import Call, Deferred
from esper_common.eventfile import read_batches
from esper_common.events import ESSENTIAL_TYPES
from testkit import SanctumProcess, ThreadedSanctum, free_port
from tests.client.test_telemetry_client import REPO, assert_inert_in_fork
from tests.client.test_telemetry_client_sanctum import (
    FAST_RETRY,
    _snapshot_over,
    run_events,
    state,
    wait_for,
)


def process_client(address: str, run_id: str, tmp_path: Path, **kw: Any) -> TelemetryClient:
    cfg = TelemetryConfig(address, run_id=run_id, producer_id="trainer-0",
                          spool_dir=str(tmp_path / "spool"), sender_process=True,
                          **{**FAST_RETRY, **kw})
    return TelemetryClient(cfg)


def child_pid(client: TelemetryClient) -> int:
    sidecar = client._sidecar
    assert sidecar is not None and sidecar.ready.wait(30) and sidecar._proc is not None
    return sidecar._proc.pid


DONE = tpb.EVENT_TYPE_TRAINING_COMPLETED


class Built(Deferred):
    """A carrier whose event says which process built it."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        super().__init__(None)
        self.event_type = DONE
        self.text = text

    def build(self) -> tpb.TelemetryEvent:
        return tpb.TelemetryEvent(event_type=DONE, training_completed=tpb.TrainingCompletedPayload(
            status=f"{self.text} built in {os.getpid()}"))


def test_delivery_in_process_mode_is_exactly_once(sanctum: ThreadedSanctum,
                                                 tmp_path: Path) -> None:
    events = run_events("run-p", n_batches=30)
    client = process_client(sanctum.address, "run-p", tmp_path)
    client.start()
    assert child_pid(client) != os.getpid()
    for ev in events:
        client.emit(ev)
    client.close()
    delivery = sanctum.snapshot("run-p").delivery
    stats = client.stats()
    assert stats["emitted"] == stats["acked"] == len(events) == delivery.events_applied
    assert (delivery.events_duplicate, delivery.gap_events) == (0, 0)
    assert stats["resent"] == stats["dropped"] == stats["errors"] == stats["pending"] == 0
    assert client._sidecar is not None
    assert client._held == 0 and not client._sidecar.unsafe


def test_stats_keys_match_thread_mode(sanctum: ThreadedSanctum, tmp_path: Path) -> None:
    thread = TelemetryClient(TelemetryConfig(sanctum.address, run_id="k", producer_id="a",
                                             spool_dir=str(tmp_path)))
    proc = process_client(sanctum.address, "k", tmp_path)
    proc.start()
    child_pid(proc)
    assert set(proc.stats()) == set(thread.stats())
    proc.close()
    assert all(isinstance(v, int) for v in proc.stats().values())


def test_killed_child_is_replaced_and_nothing_is_lost_or_applied_twice(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    run_id = "run-kill-child"
    events = run_events(run_id, n_batches=24)
    quarter = len(events) // 4
    server = SanctumProcess(str(tmp_path / "store.sqlite"))
    server.start()
    assert server.proc is not None
    try:
        client = process_client(server.address, run_id, tmp_path)
        client.start()
        first = child_pid(client)
        for ev in events[:quarter]:
            client.emit(ev)
        wait_for(lambda: client.stats()["acked"] == quarter)
        server.proc.send_signal(signal.SIGSTOP)  # acks stop: what the child sends now is
        try:                                     # unconfirmed when it dies
            for ev in events[quarter:3 * quarter]:
                client.emit(ev)
            wait_for(lambda: client.stats()["sent"] == 3 * quarter)
            with caplog.at_level(logging.ERROR, logger="esper_client"):
                os.kill(first, signal.SIGKILL)
                wait_for(lambda: client._sidecar is not None and client._sidecar.restarts == 1)
        finally:
            server.proc.send_signal(signal.SIGCONT)
        assert child_pid(client) != first
        for ev in events[3 * quarter:]:
            client.emit(ev)
        client.close(timeout=20)
        stats = client.stats()
        snapshot = _snapshot_over(server.address, run_id)
    finally:
        server.terminate()
    assert "sender process" in caplog.text and "died" in caplog.text
    delivery = snapshot.delivery
    assert delivery.events_applied == len(events) == stats["acked"] == stats["emitted"]
    assert delivery.gap_events == 0 and delivery.events_conflicting == 0
    assert stats["duplicate"] == stats["conflicting"] == stats["lost"] == 0
    assert stats["resent"] >= 2 * quarter  # handed again to the new child
    assert delivery.events_duplicate <= stats["resent"]


def test_sanctum_down_then_up_goes_through_the_spool(tmp_path: Path) -> None:
    port = free_port()
    run_id = "run-p-spool"
    events = run_events(run_id, n_batches=40)
    client = process_client(f"127.0.0.1:{port}", run_id, tmp_path, memory_buffer_events=20,
                            spool_segment_bytes=4096)
    client.start()
    for ev in events:
        client.emit(ev)
    wait_for(lambda: client.stats()["pending"] == len(events) and not client._ingress)
    assert client.stats()["spooled"] > 0 and client.stats()["spool_segments"] > 1
    with ThreadedSanctum(port=port) as server:
        wait_for(lambda: client.stats()["acked"] == len(events))
        client.close()
        delivery = server.snapshot(run_id).delivery
        assert delivery.events_applied == len(events)
        assert delivery.gap_events == delivery.events_duplicate == 0
        from tests.client.test_telemetry_client_sanctum import reference_state
        assert state(server.snapshot(run_id)) == reference_state(run_id, n_batches=40)
    assert not any((tmp_path / "spool").glob("*/seg-*"))  # the child's spool was removed


def test_close_deadline_is_honoured_and_leftovers_saved(tmp_path: Path) -> None:
    client = process_client(f"127.0.0.1:{free_port()}", "run-p-dead", tmp_path,
                            memory_buffer_events=100)
    client.start()
    child_pid(client)
    for ev in run_events("run-p-dead", n_batches=10):
        client.emit(ev)
    emitted = client.stats()["emitted"]
    wait_for(lambda: client.stats()["errors"] >= 1)
    started = time.monotonic()
    client.close(timeout=1.0)
    assert time.monotonic() - started < 4.0  # the deadline, plus the child's exit
    stats = client.stats()
    assert stats["undelivered"] == emitted and stats["acked"] == stats["lost"] == 0
    saved = [e for b in read_batches(client.cfg.undelivered_path()) for e in b.events]
    assert [e.seq for e in saved] == list(range(1, emitted + 1))


def test_deferred_carriers_are_built_in_the_child(tmp_path: Path) -> None:
    path = tmp_path / "out.events"
    client = TelemetryClient(TelemetryConfig(None, run_id="run-p-def", producer_id="p",
                                             file_path=str(path), sender_process=True))
    client.start()
    pid = child_pid(client)
    client.emit_deferred(Built("crossed"))
    here = Call()  # a builder that cannot be pickled (a closure) is built in this process
    here.event_type = DONE
    here.fn = lambda: Built("closure").build()
    client.emit_deferred(here)
    client.emit_deferred(Built("again"))
    client.close()
    assert client.stats()["acked"] == 3
    events = [e for b in read_batches(path) for e in b.events]
    assert [e.seq for e in events] == [1, 2, 3]
    assert [e.training_completed.status for e in events] == [
        f"crossed built in {pid}", f"closure built in {os.getpid()}", f"again built in {pid}"]
    assert {e.run_id for e in events} == {"run-p-def"}


def test_child_that_cannot_start_falls_back_to_the_thread(
        sanctum: ThreadedSanctum, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(sidecar_module, "CHILD_MODULE", "esper_client.no_such_module")
    events = run_events("run-p-fb", n_batches=5)
    client = process_client(sanctum.address, "run-p-fb", tmp_path)
    with caplog.at_level(logging.ERROR, logger="esper_client"):
        client.start()
        for ev in events:
            client.emit(ev)
        assert client._sidecar is not None and client._sidecar.ready.wait(30)
        client.close()
    assert "cannot start the sender process" in caplog.text
    assert client._sidecar.fallback is not None
    assert client.stats()["acked"] == len(events)
    assert sanctum.snapshot("run-p-fb").delivery.events_applied == len(events)


def test_forked_child_gets_an_inert_client(sanctum: ThreadedSanctum, tmp_path: Path) -> None:
    client = process_client(sanctum.address, "run-p-fork", tmp_path)
    client.start()
    child_pid(client)
    events = run_events("run-p-fork", n_batches=3)
    client.emit(events[0])
    assert_inert_in_fork(client, events[1])  # it must not write to the child's pipe
    for ev in events[1:]:
        client.emit(ev)
    client.close()
    assert client.stats()["acked"] == len(events)
    assert sanctum.snapshot("run-p-fork").delivery.events_applied == len(events)


def test_hand_over_is_bounded_like_the_queue_and_keeps_essential_events(
        tmp_path: Path) -> None:
    port = free_port()
    run_id = "run-p-bound"
    events = run_events(run_id, n_batches=10)
    client = process_client(f"127.0.0.1:{port}", run_id, tmp_path, ingress_max_events=50)
    client.start()
    child_pid(client)
    for ev in events[:40]:
        client.emit(ev)
    wait_for(lambda: not client._ingress)  # handed over, never confirmed: still counted
    for ev in events[40:]:
        client.emit(ev)
    stats = client.stats()
    essential = [ev for ev in events if ev.event_type in ESSENTIAL_TYPES]
    assert stats["dropped"] == len(events) - 50 - sum(
        ev.event_type in ESSENTIAL_TYPES for ev in events[50:])
    assert len(essential) > 10  # the policy had something to keep
    with ThreadedSanctum(port=port) as server:
        client.close(timeout=15)
        delivery = server.snapshot(run_id).delivery
    assert delivery.events_applied == len(events) - stats["dropped"] == client.stats()["acked"]
    assert delivery.producer_dropped == stats["dropped"]


SCRIPT = """
import sys
from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_client import TelemetryClient, TelemetryConfig
client = TelemetryClient(TelemetryConfig(None, run_id="r", producer_id="p", file_path=sys.argv[1],
                                         sender_process=True))
client.start()
for i in range(300):
    client.emit(tpb.TelemetryEvent(event_type=tpb.EVENT_TYPE_EPOCH_COMPLETED,
                                   epoch_completed=tpb.EpochCompletedPayload(reward=i)))
"""


def test_flush_at_exit_goes_through_the_child(tmp_path: Path) -> None:
    path = tmp_path / "out.events"
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(path)], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    events = [e for b in read_batches(path) for e in b.events]
    assert [e.seq for e in events] == list(range(1, 301))
    assert [e.epoch_completed.reward for e in events] == list(range(300))
