"""Telemetry client against a real sanctum on loopback: exactly-once in-order delivery,
kill -9 and restart mid-stream, long outage through the spool, drops reaching the snapshot,
rejected events, and bearer-token auth."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_client import TelemetryClient, TelemetryConfig
from esper_common.eventfile import read_batches
from esper_common.events import ESSENTIAL_TYPES
from testkit import (
    SanctumProcess,
    ThreadedSanctum,
    build_run_events,
    comparable,
    free_port,
    wait_for,
)

FAST_RETRY = {"backoff_initial_s": 0.05, "backoff_max_s": 0.3, "rpc_timeout_s": 5.0}


def run_events(run_id: str, **kw: Any) -> list[tpb.TelemetryEvent]:
    """A realistic run with the envelope left for the client to fill (seq, run, producer)."""
    events = build_run_events(run_id, "ignored", completed=True, **kw)
    for ev in events:
        for name in ("seq", "run_id", "producer_id"):
            ev.ClearField(name)
    return events


def client_for(address: str, run_id: str, tmp_path: Path, **kw: Any) -> TelemetryClient:
    cfg = TelemetryConfig(address, run_id=run_id, producer_id="trainer-0",
                          spool_dir=str(tmp_path / "spool"), **{**FAST_RETRY, **kw})
    return TelemetryClient(cfg)


def state(snapshot: spb.SanctumSnapshot) -> spb.SanctumSnapshot:
    """Aggregated state without time fields and delivery accounting."""
    out = comparable(snapshot)
    out.ClearField("delivery")
    return out


def reference_state(run_id: str, **kw: Any) -> spb.SanctumSnapshot:
    """The same run ingested by a client with no outage."""
    with ThreadedSanctum() as server:
        client = client_for(server.address, run_id, Path(tempfile.gettempdir()))
        client.start()
        for ev in run_events(run_id, **kw):
            client.emit(ev)
        client.close()
        return state(server.snapshot(run_id))


def test_every_event_arrives_exactly_once_in_order(sanctum: ThreadedSanctum,
                                                   tmp_path: Path) -> None:
    events = run_events("run-ok", n_batches=30)
    client = client_for(sanctum.address, "run-ok", tmp_path)
    client.start()
    for ev in events:
        client.emit(ev)
    client.close()
    delivery = sanctum.snapshot("run-ok").delivery
    stats = client.stats()
    assert stats["emitted"] == stats["acked"] == len(events) == delivery.events_applied
    assert (delivery.events_duplicate, delivery.gap_events, delivery.events_rejected) == (0, 0, 0)
    assert stats["resent"] == stats["dropped"] == stats["errors"] == 0
    assert sanctum.cursor("run-ok") == {"trainer-0": len(events)}


def test_auth_token_is_sent_and_refusal_diverts_to_a_file(tmp_path: Path) -> None:
    with ThreadedSanctum(token="s3cret") as server:
        good = client_for(server.address, "run-auth", tmp_path, token="s3cret")
        good.start()
        for ev in run_events("run-auth"):
            good.emit(ev)
        good.close()
        assert good.stats()["acked"] == server.snapshot("run-auth").delivery.events_applied > 0

        bad = client_for(server.address, "run-bad", tmp_path, token="wrong")
        bad.start()
        events = run_events("run-bad")
        for ev in events:
            bad.emit(ev)
        bad.close()
        stats = bad.stats()
        assert stats["diverted"] == len(events) and stats["acked"] == 0
        saved = [e for b in read_batches(bad.cfg.undelivered_path()) for e in b.events]
        assert [e.seq for e in saved] == list(range(1, len(events) + 1))
        runs = [r.run_id for r in server.stub(server.channel()).ListRuns(
            spb.ListRunsRequest(), metadata=server.metadata).runs]
        assert "run-bad" not in runs


def test_invalid_events_are_dropped_once_and_the_rest_delivered(sanctum: ThreadedSanctum,
                                                                tmp_path: Path) -> None:
    events = run_events("run-inv", n_batches=6)
    bad_slot = tpb.TelemetryEvent(
        event_type=tpb.EVENT_TYPE_SEED_GERMINATED, env_id=0,
        seed_germinated=tpb.SeedGerminatedPayload(slot_id="r9c9", blueprint_id="mlp"))
    nan = tpb.TelemetryEvent(event_type=tpb.EVENT_TYPE_EPOCH_COMPLETED, env_id=0,
                             epoch_completed=tpb.EpochCompletedPayload(val_loss=float("nan")))
    events[10:10] = [bad_slot]
    events[30:30] = [nan]
    client = client_for(sanctum.address, "run-inv", tmp_path)
    client.start()
    for ev in events:
        client.emit(ev)
    client.close()
    stats = client.stats()
    delivery = sanctum.snapshot("run-inv").delivery
    assert stats["rejected"] == 2
    assert delivery.events_applied == len(events) - 2 == stats["acked"]
    assert delivery.gap_events == 2 and delivery.events_duplicate == 0


def test_sanctum_killed_and_restarted_mid_stream(tmp_path: Path) -> None:
    run_id = "run-kill"
    events = run_events(run_id, n_batches=24)
    third = len(events) // 3
    proc = SanctumProcess(str(tmp_path / "store.sqlite"))
    proc.start()
    try:
        client = client_for(proc.address, run_id, tmp_path, memory_buffer_events=16,
                            spool_segment_bytes=2048)
        client.start()
        for ev in events[:third]:
            client.emit(ev)
            time.sleep(0.001)
            if client.stats()["acked"] >= 20 and proc.proc and proc.proc.poll() is None:
                proc.kill()  # while the client is streaming
        if proc.proc and proc.proc.poll() is None:
            proc.kill()
        for ev in events[third:2 * third]:  # emitted while sanctum is down: buffered, spooled
            client.emit(ev)
            time.sleep(0.002)
        wait_for(lambda: client.stats()["errors"] > 0)
        wait_for(lambda: client.stats()["spooled"] > 0, what="spooling while sanctum is down")
        proc.start()
        for ev in events[2 * third:]:
            client.emit(ev)
        client.close(timeout=20)
        stats = client.stats()
        assert stats["acked"] == len(events) and stats["reconnects"] >= 1
        assert stats["undelivered"] == stats["dropped"] == 0
        channel_snapshot = _snapshot_over(proc.address, run_id)
    finally:
        proc.terminate()
    delivery = channel_snapshot.delivery
    assert delivery.events_applied == len(events)
    assert delivery.gap_events == 0
    assert delivery.events_duplicate <= stats["resent"]
    assert state(channel_snapshot) == reference_state(run_id, n_batches=24)
    assert not client.cfg.spool_path().exists()


def _snapshot_over(address: str, run_id: str) -> spb.SanctumSnapshot:
    from esper.sanctum.v2 import sanctum_pb2_grpc
    from esper_common.channel import ChannelConfig, sync_channel

    with sync_channel(ChannelConfig(address)) as channel:
        stub = sanctum_pb2_grpc.SanctumServiceStub(channel)
        return stub.GetSnapshot(spb.GetSnapshotRequest(run_id=run_id), timeout=10).snapshot


def test_long_outage_spills_to_spool_then_drains(tmp_path: Path) -> None:
    port = free_port()
    run_id = "run-spool"
    events = run_events(run_id, n_batches=40)
    client = client_for(f"127.0.0.1:{port}", run_id, tmp_path, memory_buffer_events=20,
                        spool_segment_bytes=4096)
    client.start()
    for ev in events:
        client.emit(ev)
    wait_for(lambda: client.stats()["pending"] == len(events) and not client._ingress)
    sender = client._sender
    assert len(sender.buffer.mem) <= 20 and client.stats()["spool_segments"] > 1
    assert sum(f.stat().st_size for f in client.cfg.spool_path().iterdir()) > 10_000
    with ThreadedSanctum(port=port) as server:
        wait_for(lambda: client.stats()["acked"] == len(events))
        assert client.stats()["spool_segments"] == 0
        client.close()
        delivery = server.snapshot(run_id).delivery
        assert delivery.events_applied == len(events)
        assert delivery.gap_events == delivery.events_duplicate == 0
        assert state(server.snapshot(run_id)) == reference_state(run_id, n_batches=40)
    assert not client.cfg.spool_path().exists()


def test_spool_limit_drops_by_policy_and_the_count_reaches_sanctum(tmp_path: Path) -> None:
    port = free_port()
    run_id = "run-drop"
    events = run_events(run_id, n_batches=40, epochs_per_batch=4)
    client = client_for(f"127.0.0.1:{port}", run_id, tmp_path, memory_buffer_events=10,
                        spool_max_bytes=3000, spool_segment_bytes=1024, thin_keep_every=3)
    client.start()
    for ev in events:
        client.emit(ev)
    wait_for(lambda: not client._ingress)
    dropped = client.stats()["dropped"]
    assert dropped > 0
    with ThreadedSanctum(port=port) as server:
        client.close(timeout=60)  # returns once all is delivered; a loaded machine is slow
        snap = server.snapshot(run_id)
    stats = client.stats()
    assert stats["acked"] == len(events) - dropped
    assert snap.delivery.producer_dropped == dropped
    assert snap.delivery.gap_events == dropped
    assert snap.delivery.events_applied == len(events) - dropped
    # Essential events (lifecycle, batch barriers, run start/end) all arrived, and thinned
    # high-rate events still carry some of the trend.
    n_essential = sum(ev.event_type in ESSENTIAL_TYPES for ev in events)
    assert n_essential < stats["acked"]
    ref = reference_state(run_id, n_batches=40, epochs_per_batch=4)
    assert snap.lifecycle == ref.lifecycle
    assert (snap.run.last_batch, snap.run.status) == (ref.run.last_batch, ref.run.status)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed")
def test_tls_with_ca_file_and_token(tmp_path: Path) -> None:
    key, cert = tmp_path / "server.key", tmp_path / "server.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True)
    with ThreadedSanctum(tls_cert=cert, tls_key=key, token="tls-token") as server:
        port = server.address.rsplit(":", 1)[1]
        events = run_events("run-tls")
        client = client_for(f"localhost:{port}", "run-tls", tmp_path, token="tls-token",
                            tls_ca=str(cert))
        client.start()
        for ev in events:
            client.emit(ev)
        client.close()
        # The same client without the CA cannot talk to the TLS port: nothing acknowledged.
        plain = client_for(f"localhost:{port}", "run-plain", tmp_path, token="tls-token")
        plain.start()
        plain.emit(events[0])
        plain.close(timeout=1.0)
    stats = client.stats()
    assert stats["acked"] == len(events) and stats["errors"] == 0
    assert plain.stats()["acked"] == 0 and plain.stats()["undelivered"] == 1
