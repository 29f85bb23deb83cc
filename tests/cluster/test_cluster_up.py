"""`esper cluster up` starts 3 NATS servers and 2 replicas that share runs, prints how to
use them, and Ctrl-C stops every process it started."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import grpc
import pytest

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.sanctum.v2 import sanctum_pb2_grpc
from sanctum_svc.cluster.up import READY_LINE
from testkit import wait_for
from testkit.servers import batches
from tests.cluster.test_failover import RUN, known_run

pytestmark = pytest.mark.slow


def answers(port: int) -> bool:
    """Whether something accepts connections on the loopback port."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def test_cluster_up_serves_one_run_on_both_replicas_and_stops_cleanly(
        tmp_path: Path, nats_binary: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "esper_common", "cluster", "up", "--nats-port", "0", "--port",
         "0", "--data-dir", str(tmp_path / "cluster")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    ready = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith(READY_LINE):
                ready.set()

    threading.Thread(target=pump, daemon=True).start()
    try:
        assert ready.wait(90), "".join(lines)
        text = "".join(lines)
        nats = re.search(r"3 NATS servers (\S+)", text)
        replicas = re.search(r"sanctum replicas (\S+)", text)
        assert nats and replicas, text
        a, b = replicas.group(1).split(",")
        assert f"esper-tui --server {a},{b}" in text
        events = known_run(3)
        with grpc.insecure_channel(a) as ch:
            reply = sanctum_pb2_grpc.SanctumServiceStub(ch).Ingest(iter(batches(events)),
                                                                    timeout=30)
        assert reply.events_applied == len(events)
        with grpc.insecure_channel(b) as ch:
            stub = sanctum_pb2_grpc.SanctumServiceStub(ch)
            cursors = stub.GetResumeCursor(spb.GetResumeCursorRequest(run_id=RUN), timeout=10)
            snap = stub.GetSnapshot(spb.GetSnapshotRequest(run_id=RUN), timeout=10).snapshot
        assert cursors.cursors[0].last_seq == len(events)
        assert snap.delivery.events_applied == len(events)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0, "".join(lines)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    ports = [int(u.rsplit(":", 1)[1]) for u in nats.group(1).split(",")]
    ports += [int(a.rsplit(":", 1)[1]), int(b.rsplit(":", 1)[1])]
    for port in ports:  # every NATS server and replica it started is gone
        wait_for(lambda port=port: not answers(port), what=f"port {port} closed")
