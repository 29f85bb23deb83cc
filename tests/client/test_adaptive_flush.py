"""Adaptive flush: an idle sender ships the first emit() at once; under a steady stream
Ingest calls are spaced by send_gap_s (what comes meanwhile is coalesced)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_client import TelemetryClient, TelemetryConfig
from testkit import ThreadedSanctum, wait_for


def epoch(i: int) -> tpb.TelemetryEvent:
    return tpb.TelemetryEvent(event_type=tpb.EVENT_TYPE_EPOCH_COMPLETED, env_id=0,
                              epoch_completed=tpb.EpochCompletedPayload(reward=float(i)))


def wait_acked(client: TelemetryClient, n: int, timeout: float = 30.0) -> float:
    """Seconds until `n` events are acknowledged."""
    t0 = time.monotonic()
    while client.stats()["acked"] < n:
        assert time.monotonic() - t0 < timeout, client.stats()
        time.sleep(0.002)
    return time.monotonic() - t0


def test_idle_sender_ships_at_once(tmp_path: Path) -> None:
    """With a 60 s tick, a fixed-interval sender would hold each event emitted to an idle
    sender about 60 s: each one acknowledged within 30 s was shipped at once (the lags are
    printed, not asserted: a loaded machine is slow, not wrong)."""
    with ThreadedSanctum() as server:
        client = TelemetryClient(TelemetryConfig(
            target=server.address, run_id="flush", producer_id="p", spool_dir=str(tmp_path),
            flush_interval_s=60.0, send_gap_s=0.02))
        client.start()
        try:
            client.emit(epoch(0))
            wait_acked(client, 1)  # connects, reads the resume cursor
            lags = []
            for i in range(1, 4):
                wait_for(lambda: client._sender.idle, what="an idle sender")
                client.emit(epoch(i))
                lags.append(wait_acked(client, i + 1))
        finally:
            client.close(10)
    print(f"\nidle sender: acknowledged {[round(x, 3) for x in lags]} s after emit()")


def test_steady_stream_is_coalesced_by_the_gap(tmp_path: Path) -> None:
    """1,000 events over ~1 s: at most ~1 s / send_gap_s Ingest calls, all acknowledged."""
    with ThreadedSanctum() as server:
        client = TelemetryClient(TelemetryConfig(
            target=server.address, run_id="gap", producer_id="p", spool_dir=str(tmp_path),
            send_gap_s=0.1))
        client.start()
        try:
            t0 = time.monotonic()
            for i in range(1000):
                client.emit(epoch(i))
                time.sleep(0.001)
            spent = time.monotonic() - t0
            wait_acked(client, 1000)
            calls = client._sender.stats.calls
        finally:
            client.close(10)
    assert 1 <= calls <= spent / 0.1 + 3, (calls, spent)


def test_send_gap_is_validated() -> None:
    with pytest.raises(ValueError, match="send_gap_s"):
        TelemetryConfig(target="h:1", run_id="r", producer_id="p", send_gap_s=1.0)
