"""Cluster mode end to end: 3 NATS servers (JetStream, R=3) and 2 sanctum replicas on
loopback. A producer streams a run into replica A; A is killed -9 mid-run (the producer
fails over to B), then one NATS server is killed. B's final snapshot equals a
single-process run of the same events (nothing lost, nothing applied twice), a viewer on B
saw the run continue, and viewers on A and B saw the same content for the same events."""

from __future__ import annotations

import contextlib
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
from sanctum_svc.cluster.launch import NatsCluster
from testkit import ThreadedSanctum
from testkit.cluster import ClusterReplica, Viewer, content
from testkit.events import realistic_run
from tests.fault.helpers import same_state

pytestmark = [pytest.mark.fault, pytest.mark.slow]

RUN = "cluster-run"
FAST_RETRY = {"backoff_initial_s": 0.05, "backoff_max_s": 0.3, "rpc_timeout_s": 5.0}


def known_run(seed: int) -> list[tpb.TelemetryEvent]:
    events = realistic_run(n_batches=6, n_envs=3, epochs=4, seed=seed)
    for ev in events:
        ev.run_id, ev.producer_id = RUN, "trainer-0"
    return events


def snapshot_at(address: str, run_id: str = RUN) -> spb.SanctumSnapshot:
    with grpc.insecure_channel(address) as ch:
        stub = sanctum_pb2_grpc.SanctumServiceStub(ch)
        return stub.GetSnapshot(spb.GetSnapshotRequest(run_id=run_id), timeout=15).snapshot


def key(snapshot: spb.SanctumSnapshot) -> tuple[int, int, int]:
    d = snapshot.delivery
    return d.events_applied, d.events_received, d.events_duplicate


def test_kill_replica_then_nats_server_loses_nothing(nats_cluster: NatsCluster,
                                                     tmp_path: Path) -> None:
    events = known_run(7)
    n = len(events)
    with ThreadedSanctum() as ref:  # the single-process run of the same events
        ref.ingest(events)
        expected = ref.snapshot(RUN)

    a, b = ClusterReplica(nats_cluster.urls), ClusterReplica(nats_cluster.urls)
    a.start(30)
    b.start(30)
    viewer_a, viewer_b = Viewer(a.address, RUN).start(), Viewer(b.address, RUN).start()
    client = TelemetryClient(TelemetryConfig(
        f"{a.address},{b.address}", run_id=RUN, producer_id="trainer-0",
        spool_dir=str(tmp_path / "spool"), memory_buffer_events=64, **FAST_RETRY))
    kill_replica_at, kill_nats_at = 2 * n // 5, 7 * n // 10
    killed_at = 0.0
    try:
        client.start()
        for i, ev in enumerate(events):
            client.emit(ev)
            time.sleep(0.01)  # a steady stream: the kills land with batches in flight
            if i == kill_replica_at:
                a.kill()
                killed_at = time.monotonic()
                applied_at_kill = max((key(s)[0] for _, s in viewer_b.seen), default=0)
            if i == kill_nats_at:
                nats_cluster.servers[0].kill()
        client.close(timeout=30)
        final = snapshot_at(b.address)
        time.sleep(0.5)  # the viewer's last snapshot (10 Hz)
    finally:
        client.close(timeout=1)
        viewer_a.stop()
        viewer_b.stop()
        a.kill()
        b.kill()

    stats = client.stats()
    assert stats["acked"] == n, stats
    assert stats["undelivered"] == stats["dropped"] == stats["lost"] == 0, stats
    assert stats["reconnects"] >= 1, stats  # it did fail over
    d = final.delivery
    assert (d.events_applied, d.gap_events, d.events_rejected, d.events_conflicting) == (
        n, 0, 0, 0)
    assert same_state(final) == same_state(expected)

    # The viewer on B saw the run go on after A died, up to its end.
    after = [s for t, s in viewer_b.seen if t > killed_at]
    assert 0 < applied_at_kill < n
    assert after and max(key(s)[0] for s in after) == n
    assert any(applied_at_kill < key(s)[0] < n for s in after), "no snapshot mid-run on B"

    # Both viewers saw the same content for the same snapshot versions (a run's version
    # counts what was applied to it, in the stream's order, on every replica).
    seen_b = {s.version: content(s) for _, s in viewer_b.seen}
    common = [(s.version, content(s)) for _, s in viewer_a.seen if s.version in seen_b]
    assert common, "the viewers on A and B never saw the same version"
    for version, snap in common:
        assert snap == seen_b[version], f"A and B differ at version {version}"


def test_real_training_run_survives_replica_and_nats_kills(nats_cluster: NatsCluster,
                                                           tmp_path: Path) -> None:
    """esper-trainer streams a real run with both replicas as --sanctum; A is killed -9
    once the run is under way, then a NATS server. Nothing is lost (emitted == acked ==
    applied == cursor, no gaps), the run completes on B, and a replica started afterwards
    (checkpoint + stream) holds the same state as B."""
    a, b = ClusterReplica(nats_cluster.urls), ClusterReplica(nats_cluster.urls)
    a.start(30)
    b.start(30)
    run_id = "train-cluster"
    err_path = tmp_path / "trainer.err"
    with err_path.open("w") as err_file:
        trainer = subprocess.Popen(
            [sys.executable, "-m", "trainer_svc", "--sanctum", f"{a.address},{b.address}",
             "--episodes", "32", "--envs", "2", "--seed", "5", "--run-id", run_id, "--quiet",
             "--spool-dir", str(tmp_path / "spool")],
            stdout=subprocess.DEVNULL, stderr=err_file, text=True)
    late = ClusterReplica(nats_cluster.urls[1:])
    try:
        deadline = time.monotonic() + 60
        applied = 0
        while time.monotonic() < deadline and trainer.poll() is None and applied < 100:
            with contextlib.suppress(grpc.RpcError):
                applied = snapshot_at(b.address, run_id).delivery.events_applied
            time.sleep(0.05)
        assert trainer.poll() is None and applied >= 100, err_path.read_text()
        a.kill()
        time.sleep(0.5)
        nats_cluster.servers[0].kill()
        trainer.wait(120)
        err = err_path.read_text()
        assert trainer.returncode == 0, err
        final = snapshot_at(b.address, run_id)
        late.start(30)
        rebuilt = snapshot_at(late.address, run_id)
    finally:
        if trainer.poll() is None:
            trainer.kill()
            trainer.wait(10)
        for r in (a, b, late):
            r.kill()
    m = re.search(r"telemetry: emitted (\d+), acked (\d+), resent (\d+), dropped (\d+), "
                  r"reconnects (\d+)", err)
    assert m, err
    emitted, acked, _resent, dropped, reconnects = map(int, m.groups())
    assert emitted == acked == final.delivery.events_applied and dropped == 0, err
    assert reconnects >= 1, err
    assert final.delivery.gap_events == 0 and final.run.status == spb.RUN_STATUS_COMPLETED
    assert content(rebuilt) == content(final)
