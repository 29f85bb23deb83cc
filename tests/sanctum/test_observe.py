"""Sanctum's logs and metrics: structured JSON records per RPC (rpc, peer, status, run_id,
producer_id), per-RPC Prometheus counters and latencies, process and platform collectors."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import grpc
import pytest

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.sanctum.v2.sanctum_pb2_grpc import SanctumServiceStub
from testkit import SanctumProcess, batches, build_run_events, free_port


def _metrics(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        return resp.read().decode()


def _records(output: list[str]) -> list[dict[str, object]]:
    out = []
    for line in output:
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def _wait_records(proc: SanctumProcess, pred: object, timeout: float = 10
                  ) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [r for r in _records(proc.output) if pred(r)]  # type: ignore[operator]  # pred is a callable typed loosely by the fixture
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"no such record in: {''.join(proc.output)}")


def test_json_logs_and_per_rpc_metrics_from_a_live_sanctum(tmp_path: Path) -> None:
    metrics_port = free_port()
    args = ["--log-level", "info", "--log-format", "json", "--metrics-port", str(metrics_port)]
    with SanctumProcess(str(tmp_path / "s.sqlite"), extra_args=args) as proc, \
            grpc.insecure_channel(proc.address) as ch:
        stub = SanctumServiceStub(ch)
        events = build_run_events("obs-run", "prod-7", n_batches=1)
        stub.Ingest(batches(events), timeout=10)
        with pytest.raises(grpc.RpcError) as err:
            stub.GetSnapshot(spb.GetSnapshotRequest(run_id="nope"), timeout=5)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND

        ingest = _wait_records(proc, lambda r: r.get("rpc") == "Ingest" and "status" in r)[0]
        assert ingest["status"] == "OK" and ingest["service"] == "sanctum"
        assert ingest["run_id"] == "obs-run" and ingest["producer_id"] == "prod-7"
        assert str(ingest["peer"]).startswith("ipv4:127.0.0.1:")
        assert isinstance(ingest["duration_ms"], float) and ingest["level"] == "info"
        missing = _wait_records(proc, lambda r: r.get("rpc") == "GetSnapshot")[0]
        assert missing["status"] == "NOT_FOUND" and missing["run_id"] == "nope"

        text = _metrics(metrics_port)
    handled = ('grpc_server_handled_total{grpc_code="OK",grpc_method="Ingest",'
               'grpc_service="esper.sanctum.v2.SanctumService",grpc_type="client_stream"} 1.0')
    assert handled in text
    assert ('grpc_server_handled_total{grpc_code="NOT_FOUND",grpc_method="GetSnapshot",'
            'grpc_service="esper.sanctum.v2.SanctumService",grpc_type="unary"} 1.0') in text
    assert 'grpc_server_handling_seconds_count{grpc_method="Ingest"' in text
    assert 'grpc_server_started_total{grpc_method="GetSnapshot"' in text
    for name in ("process_resident_memory_bytes", "process_open_fds", "python_info",
                 "python_gc_collections_total"):
        assert f"\n{name}" in text, name


def test_text_logs_put_the_fields_before_the_message(tmp_path: Path) -> None:
    with SanctumProcess(":memory:", extra_args=["-v"]) as proc, \
            grpc.insecure_channel(proc.address) as ch:
        SanctumServiceStub(ch).ListRuns(spb.ListRunsRequest(), timeout=5)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any("ListRuns OK" in x for x in proc.output):
            time.sleep(0.1)
    (line,) = [x for x in proc.output if "ListRuns OK" in x]
    assert " INFO sanctum_svc.observe [service=sanctum peer=ipv4:127.0.0.1:" in line
    assert "rpc=ListRuns status=OK duration_ms=" in line and line.rstrip().endswith(
        "]: ListRuns OK")
