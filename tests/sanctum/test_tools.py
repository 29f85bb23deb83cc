"""Ecosystem conventions: health states, reflection (grpcurl), Prometheus metrics."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from testkit import ThreadedSanctum

GRPCURL = shutil.which("grpcurl") or str(Path(sys.executable).parent / "grpcurl")
needs_grpcurl = pytest.mark.skipif(not Path(GRPCURL).exists(), reason="grpcurl not installed")


def test_health_serving_then_not_serving_on_shutdown() -> None:
    server = ThreadedSanctum().start()
    seen: list[int] = []
    first = threading.Event()
    ch = grpc.insecure_channel(server.address)

    def watch() -> None:
        try:
            for reply in health_pb2_grpc.HealthStub(ch).Watch(
                    health_pb2.HealthCheckRequest(service="esper.sanctum.v2.SanctumService")):
                seen.append(reply.status)
                first.set()
        except grpc.RpcError:
            pass

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    assert first.wait(5)
    server.stop(grace=0.5)
    t.join(5)
    ch.close()
    assert seen[0] == health_pb2.HealthCheckResponse.SERVING
    assert health_pb2.HealthCheckResponse.NOT_SERVING in seen[1:]


@needs_grpcurl
def test_grpcurl_list_and_describe(sanctum: ThreadedSanctum) -> None:
    listed = subprocess.run([GRPCURL, "-plaintext", sanctum.address, "list"],
                            capture_output=True, text=True, timeout=20)
    assert listed.returncode == 0, listed.stderr
    services = listed.stdout.split()
    assert "esper.sanctum.v2.SanctumService" in services
    assert "grpc.health.v1.Health" in services
    described = subprocess.run(
        [GRPCURL, "-plaintext", sanctum.address, "describe",
         "esper.sanctum.v2.SanctumService"], capture_output=True, text=True, timeout=20)
    assert described.returncode == 0, described.stderr
    assert "rpc WatchSnapshots" in described.stdout and "stream" in described.stdout
    msg = subprocess.run([GRPCURL, "-plaintext", sanctum.address, "describe",
                          "esper.telemetry.v1.PPOUpdatePayload"],
                         capture_output=True, text=True, timeout=20)
    assert "gradient_cv" in msg.stdout


@needs_grpcurl
def test_grpcurl_needs_token_when_configured() -> None:
    with ThreadedSanctum(token="tok") as server:
        denied = subprocess.run([GRPCURL, "-plaintext", server.address, "list"],
                                capture_output=True, text=True, timeout=20)
        assert denied.returncode != 0 and "Unauthenticated" in denied.stderr
        ok = subprocess.run([GRPCURL, "-plaintext", "-H", "authorization: Bearer tok",
                             server.address, "list"], capture_output=True, text=True,
                            timeout=20)
        assert ok.returncode == 0 and "esper.sanctum.v2.SanctumService" in ok.stdout


@needs_grpcurl
def test_grpcurl_health_check_needs_no_token_as_documented(make_events) -> None:
    """Health is exempt from the token, and grpcurl resolves it by reflection: reflection
    describes the health service without a token, and nothing else."""
    with ThreadedSanctum(token="tok", read_token="read") as server:
        server.ingest(make_events("secret-run"))

        def grpcurl(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([GRPCURL, "-plaintext", *args], capture_output=True,
                                  text=True, timeout=20)

        health = grpcurl(server.address, "grpc.health.v1.Health/Check")
        assert health.returncode == 0, health.stderr
        assert '"status": "SERVING"' in health.stdout
        assert grpcurl(server.address, "describe", "grpc.health.v1.Health").returncode == 0
        for args in ([server.address, "list"],
                     [server.address, "describe", "esper.sanctum.v2.SanctumService"],
                     ["-d", "{}", server.address, "esper.sanctum.v2.SanctumService/ListRuns"]):
            denied = grpcurl(*args)
            assert denied.returncode != 0 and "Unauthenticated" in denied.stderr, args
            assert "secret-run" not in denied.stdout
        listed = grpcurl("-H", "authorization: Bearer read", "-d", "{}", server.address,
                         "esper.sanctum.v2.SanctumService/ListRuns")
        assert listed.returncode == 0 and "secret-run" in listed.stdout


def test_metrics_endpoint(make_events) -> None:
    with ThreadedSanctum(metrics_port=0) as server:
        server.ingest(make_events("m"))
        server.ingest(make_events("m")[:5])
        assert server.server is not None and server.server.metrics_port
        url = f"http://127.0.0.1:{server.server.metrics_port}/metrics"
        text = urllib.request.urlopen(url, timeout=5).read().decode()
    lines = dict(line.rsplit(" ", 1) for line in text.splitlines()
                 if line and not line.startswith("#"))
    assert float(lines["sanctum_ingest_events_total"]) == 30
    assert float(lines["sanctum_events_duplicate_total"]) == 5
    assert "sanctum_subscribers" in lines
    assert "sanctum_snapshot_build_seconds_count" in lines
