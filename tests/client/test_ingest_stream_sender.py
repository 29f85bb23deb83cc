"""The sender on IngestStream: one long-lived stream, a bounded window of unacknowledged
batches, exactly once across a killed sanctum, a rejected batch mid-window, and the
fallback to Ingest for a sanctum that does not know IngestStream."""

from __future__ import annotations

import time
from pathlib import Path

import grpc

from esper.telemetry.v1 import telemetry_pb2 as tpb
from sanctum_svc.servicer import SERVICE_NAME
from testkit import SanctumProcess, ThreadedSanctum
from testkit.held import HeldAcks
from tests.client.test_telemetry_client_sanctum import (
    _snapshot_over,
    client_for,
    run_events,
    wait_for,
)


def epoch(i: int) -> tpb.TelemetryEvent:
    return tpb.TelemetryEvent(event_type=tpb.EVENT_TYPE_EPOCH_COMPLETED, env_id=0, epoch=i,
                              epoch_completed=tpb.EpochCompletedPayload(reward=float(i)))


def started(server: ThreadedSanctum, method: str) -> float:
    assert server.server is not None
    value = server.server.metrics.registry.get_sample_value(
        "grpc_server_started_total", {"grpc_service": SERVICE_NAME, "grpc_method": method,
                                      "grpc_type": "bidi_stream" if method == "IngestStream"
                                      else "client_stream"})
    return value or 0.0


def test_a_steady_stream_uses_one_ingest_stream(tmp_path: Path) -> None:
    with ThreadedSanctum() as server:
        client = client_for(server.address, "one", tmp_path, send_gap_s=0.005)
        client.start()
        try:
            for i in range(600):
                client.emit(epoch(i))
                if i % 20 == 0:
                    time.sleep(0.005)
            wait_for(lambda: client.stats()["acked"] == 600)
            sender = client._sender
            assert sender.stats.batches > 10  # many sends ...
        finally:
            client.close(10)
        assert started(server, "IngestStream") == 1  # ... on one call
        assert started(server, "Ingest") == 0
        assert server.cursor("one", "trainer-0") == {"trainer-0": 600}


def test_the_client_keeps_at_most_its_window_unacknowledged(tmp_path: Path) -> None:
    with ThreadedSanctum() as server:
        client = client_for(server.address, "win", tmp_path, max_unacked_batches=3,
                            batch_max_events=8)
        client.start()
        try:
            client.emit(epoch(0))
            wait_for(lambda: client.stats()["acked"] == 1)
            with HeldAcks(server) as held:
                for i in range(1, 200):
                    client.emit(epoch(i))
                wait_for(lambda: held.submitted >= 3)
                time.sleep(0.3)  # room to send more than it may
                assert held.submitted == 3
                assert client.stats()["acked"] == 1
            wait_for(lambda: client.stats()["acked"] == 200)
        finally:
            client.close(10)
        assert server.cursor("win", "trainer-0") == {"trainer-0": 200}


def test_killed_mid_window_then_restarted_every_event_applied_once(tmp_path: Path) -> None:
    run_id = "kill-window"
    events = run_events(run_id, n_batches=12)
    proc = SanctumProcess(str(tmp_path / "store.sqlite"))
    proc.start()
    try:
        client = client_for(proc.address, run_id, tmp_path, send_gap_s=0.0,
                            batch_max_events=4)
        client.start()
        window = client._sender._window
        third = len(events) // 3
        for ev in events[:third]:
            client.emit(ev)
        wait_for(lambda: client.stats()["acked"] >= 1)
        proc.freeze()  # from here, batches are sent and never acknowledged
        for ev in events[third:]:
            client.emit(ev)
        wait_for(lambda: len(window.batches) > 0)
        in_flight_at_kill = len(window.batches)
        proc.kill()
        wait_for(lambda: client.stats()["errors"] > 0)
        proc.start()
        client.close(timeout=20)
        stats = client.stats()
        snapshot = _snapshot_over(proc.address, run_id)
    finally:
        proc.terminate()
    assert in_flight_at_kill > 0
    assert stats["acked"] == len(events) and stats["reconnects"] >= 1
    assert snapshot.delivery.events_applied == len(events)
    assert snapshot.delivery.gap_events == 0
    assert snapshot.delivery.events_duplicate <= stats["resent"]


def test_a_rejected_batch_mid_window_drops_only_its_events(tmp_path: Path) -> None:
    with ThreadedSanctum() as server:
        client = client_for(server.address, "bad", tmp_path, batch_max_events=4,
                            send_gap_s=0.0)
        client.start()
        try:
            for i in range(40):
                ev = epoch(i)
                if i == 17:
                    ev.epoch_completed.reward = float("nan")  # refused: not finite
                client.emit(ev)
            client.close(10)
        finally:
            client.close(1)
        stats = client.stats()
        snapshot = server.snapshot("bad")
    assert stats["rejected"] == 1 and stats["acked"] == 39
    assert snapshot.delivery.events_applied == 39
    assert snapshot.delivery.events_duplicate <= stats["resent"]


class _WithoutIngestStream(grpc.GenericRpcHandler):
    """A sanctum from before IngestStream: the method is unknown (UNIMPLEMENTED)."""

    def __init__(self, inner: grpc.GenericRpcHandler) -> None:
        self.inner = inner

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        if details.method.endswith("/IngestStream"):
            return None
        return self.inner.service(details)


def test_an_older_sanctum_gets_ingest_calls(tmp_path: Path) -> None:
    with ThreadedSanctum() as server:
        assert server.server is not None and server.server.servicer is not None
        handler = _WithoutIngestStream(server.server.servicer.generic_handler())

        async def start_old() -> tuple[grpc.aio.Server, int]:
            old = grpc.aio.server()
            old.add_generic_rpc_handlers((handler,))
            port = old.add_insecure_port("127.0.0.1:0")
            await old.start()
            return old, port

        old, port = server.call(start_old())
        try:
            client = client_for(f"127.0.0.1:{port}", "old", tmp_path)
            client.start()
            for i in range(100):
                client.emit(epoch(i))
            client.close(10)
            stats = client.stats()
        finally:
            server.call(old.stop(0))
        assert stats["acked"] == 100 and stats["errors"] == 0
        assert server.cursor("old", "trainer-0") == {"trainer-0": 100}
