"""kill -9 sanctum at random points while a producer streams, restart it on the same store
and port, let the producer resume: the final snapshot equals an uninterrupted run's.

Two producers: the real TelemetryClient fed a known event stream (kill points drawn by a
seeded RNG, several seeds), and a real training run through the esper-trainer CLI.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.sanctum.v2 import sanctum_pb2_grpc
from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_client import TelemetryClient, TelemetryConfig
from testkit import SanctumProcess, ThreadedSanctum
from testkit.events import realistic_run
from tests.fault.helpers import same_state

pytestmark = pytest.mark.fault

FAST_RETRY = {"backoff_initial_s": 0.05, "backoff_max_s": 0.3, "rpc_timeout_s": 5.0}


def snapshot_at(address: str, run_id: str) -> spb.SanctumSnapshot:
    with grpc.insecure_channel(address) as ch:
        stub = sanctum_pb2_grpc.SanctumServiceStub(ch)
        return stub.GetSnapshot(spb.GetSnapshotRequest(run_id=run_id), timeout=10).snapshot


def cursor_at(address: str, run_id: str, producer_id: str) -> int:
    with grpc.insecure_channel(address) as ch:
        stub = sanctum_pb2_grpc.SanctumServiceStub(ch)
        reply = stub.GetResumeCursor(spb.GetResumeCursorRequest(
            run_id=run_id, producer_id=producer_id), timeout=10)
        return reply.cursors[0].last_seq


def known_run(run_id: str, seed: int) -> list[tpb.TelemetryEvent]:
    """A realistic stream (every event type) for one producer, seq 1..n."""
    events = realistic_run(n_batches=6, n_envs=3, epochs=4, seed=seed)
    for ev in events:
        ev.run_id, ev.producer_id = run_id, "trainer-0"
    return events


@pytest.mark.parametrize("seed", [101, 202, 303])
def test_kill9_at_random_points_then_resume_equals_uninterrupted(tmp_path: Path,
                                                                 seed: int) -> None:
    run_id = f"crash-{seed}"
    events = known_run(run_id, seed)
    n = len(events)
    with ThreadedSanctum() as ref:  # the uninterrupted run: same events, fresh store
        ref.ingest(events)
        expected = ref.snapshot(run_id)

    rng = random.Random(seed)
    kill_at = sorted(rng.sample(range(n // 10, 8 * n // 10), 2))
    downtime = [rng.uniform(0.05, 0.6) for _ in kill_at]
    proc = SanctumProcess(str(tmp_path / "store.sqlite"))
    proc.start()
    client = TelemetryClient(TelemetryConfig(
        proc.address, run_id=run_id, producer_id="trainer-0",
        spool_dir=str(tmp_path / "spool"), memory_buffer_events=64, **FAST_RETRY))
    cursors_after_restart = []
    try:
        client.start()
        for i, ev in enumerate(events):
            client.emit(ev)
            time.sleep(0.002)  # a steady stream, so every kill lands with calls in flight
            if kill_at and i == kill_at[0]:
                kill_at.pop(0)
                proc.kill()
                time.sleep(downtime.pop(0))  # emit() keeps buffering meanwhile
                proc.start()
                cursors_after_restart.append(cursor_at(proc.address, run_id, "trainer-0"))
        client.close(timeout=30)
        final = snapshot_at(proc.address, run_id)
    finally:
        client.close(timeout=1)
        proc.kill()

    stats = client.stats()
    assert stats["acked"] == n, stats
    assert stats["undelivered"] == stats["dropped"] == stats["lost"] == 0, stats
    assert all(c < n for c in cursors_after_restart), "a kill must land mid-run"
    d = final.delivery
    assert (d.events_applied, d.gap_events, d.events_rejected) == (n, 0, 0)
    assert same_state(final) == same_state(expected)


def test_kill9_during_a_real_training_run(tmp_path: Path) -> None:
    """esper-trainer streams a real run; sanctum is SIGKILLed once mid-run and restarted.
    Nothing is lost (emitted == acked == applied == cursor, no gaps), and the live state
    equals the state a fresh sanctum rebuilds from the store alone."""
    store = tmp_path / "train.sqlite"
    proc = SanctumProcess(str(store))
    proc.start()
    run_id = "train-crash"
    err_path = tmp_path / "trainer.err"
    with err_path.open("w") as err_file:
        trainer = subprocess.Popen(
            [sys.executable, "-m", "trainer_svc", "--sanctum", proc.address, "--episodes",
             "48", "--envs", "2", "--seed", "5", "--run-id", run_id, "--quiet",
             "--spool-dir", str(tmp_path / "spool")],
            stdout=subprocess.DEVNULL, stderr=err_file, text=True)
    try:
        # Kill once the run is visibly under way (some events applied, not finished).
        deadline = time.monotonic() + 60
        applied = 0
        while time.monotonic() < deadline and trainer.poll() is None:
            try:
                applied = snapshot_at(proc.address, run_id).delivery.events_applied
            except grpc.RpcError:
                applied = 0
            if applied >= 150:
                break
            time.sleep(0.05)
        assert trainer.poll() is None, (
            f"the trainer ended before the kill: {err_path.read_text()}")
        assert applied >= 150, "the trainer never got going"
        proc.kill()
        time.sleep(0.5)
        proc.start()
        trainer.wait(120)
        err = err_path.read_text()
        assert trainer.returncode == 0, err
        final = snapshot_at(proc.address, run_id)
        cursor = cursor_at(proc.address, run_id, final.delivery.producers[0].producer_id)
        assert proc.terminate() == 0
    finally:
        if trainer.poll() is None:
            trainer.kill()
            trainer.wait(10)
        proc.kill()

    m = re.search(r"telemetry: emitted (\d+), acked (\d+), resent (\d+), dropped (\d+), "
                  r"reconnects (\d+)", err)
    assert m, err
    emitted, acked, _resent, dropped, _reconnects = map(int, m.groups())
    assert emitted == acked == final.delivery.events_applied, err
    assert dropped == 0, err
    assert final.delivery.gap_events == 0 and cursor == emitted
    assert final.run.status == spb.RUN_STATUS_COMPLETED
    with ThreadedSanctum(store=str(store)) as rebuilt:
        assert rebuilt.server is not None and rebuilt.server.replayed == emitted
        assert same_state(rebuilt.snapshot(run_id)) == same_state(final)
