"""The esper-sanctum process: kill -9 and resume, graceful SIGTERM, CLI errors, file ingest."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import pytest

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.sanctum.v2 import sanctum_pb2_grpc
from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_common.eventfile import write_batch
from testkit import SanctumProcess, ThreadedSanctum, batches, comparable


def _stub(address: str) -> tuple[grpc.Channel, sanctum_pb2_grpc.SanctumServiceStub]:
    ch = grpc.insecure_channel(address)
    return ch, sanctum_pb2_grpc.SanctumServiceStub(ch)


def _run_cli(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sanctum_svc", *args], capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.fault
def test_kill9_mid_stream_then_resume_equals_uninterrupted(tmp_path: Path,
                                                           make_events) -> None:
    events = make_events("crash", n_batches=20)
    with ThreadedSanctum() as ref:
        ref.ingest(events)
        expected = ref.snapshot("crash")

    proc = SanctumProcess(str(tmp_path / "crash.sqlite"))
    proc.start()
    try:
        sent = threading.Event()
        failure: list[grpc.RpcError] = []

        def slow_requests():  # noqa: ANN202
            for i, req in enumerate(batches(events, 4)):
                if i == 8:
                    sent.set()
                time.sleep(0.02)
                yield req

        def stream() -> None:
            ch, stub = _stub(proc.address)
            try:
                stub.Ingest(slow_requests(), timeout=30)
            except grpc.RpcError as err:
                failure.append(err)
            finally:
                ch.close()

        t = threading.Thread(target=stream)
        t.start()
        assert sent.wait(10)
        proc.kill()  # SIGKILL while the stream is open
        t.join(10)
        assert failure and failure[0].code() == grpc.StatusCode.UNAVAILABLE

        proc.start()  # same store, same port
        ch, stub = _stub(proc.address)
        with ch:
            cursor = stub.GetResumeCursor(spb.GetResumeCursorRequest(
                run_id="crash", producer_id="trainer-0")).cursors[0].last_seq
            assert 0 < cursor < len(events), "the kill should land mid-stream"
            assert cursor % 4 == 0, "batches are persisted whole"
            reply = stub.Ingest(batches(events[cursor:], 16))
            assert reply.events_duplicate == 0
            final = stub.GetSnapshot(spb.GetSnapshotRequest(run_id="crash")).snapshot
        assert final.delivery.events_applied == len(events)
        assert comparable(final) == comparable(expected)
    finally:
        proc.kill()


@pytest.mark.fault
def test_sigterm_ends_watch_streams_cleanly(tmp_path: Path, make_events) -> None:
    proc = SanctumProcess(str(tmp_path / "t.sqlite"))
    proc.start()
    ch, stub = _stub(proc.address)
    try:
        stub.Ingest(batches(make_events("t"), 64))
        call = stub.WatchSnapshots(spb.WatchSnapshotsRequest(run_id="t"))
        first = next(call)
        assert first.HasField("snapshot")
        assert proc.terminate() == 0
        rest = list(call)  # ends without an error: the handler returned before stop()
        assert all(m.HasField("heartbeat") or m.HasField("snapshot") for m in rest)
        assert call.code() == grpc.StatusCode.OK
    finally:
        ch.close()
        proc.kill()
    # The store was flushed: a restart serves the same run.
    proc.start()
    try:
        ch, stub = _stub(proc.address)
        with ch:
            snap = stub.GetSnapshot(spb.GetSnapshotRequest(run_id="t")).snapshot
        assert snap.delivery.events_applied == 25
        assert "replayed 25 events" in "".join(proc.output) or snap.run_id == "t"
    finally:
        assert proc.terminate() == 0


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with ThreadedSanctum() as running:
        result = _run_cli("serve", "--listen", running.address, "--store", ":memory:")
    assert result.returncode == 2
    assert "in use" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("args,needle", [
    (["--listen", "0.0.0.0:0", "--store", ":memory:"], "without a token"),
    (["--store", "/nonexistent/dir/s.sqlite", "--listen", "127.0.0.1:0"], "does not exist"),
    (["--max-hz", "500", "--store", ":memory:"], "--max-hz"),
    (["--max-hz", "fast"], "invalid float"),
    (["--listen", "nohostport"], "HOST:PORT"),
    (["--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key"], "no such file"),
    (["--read-token", "r"], "--read-token needs --token"),
    (["--full-snapshot-every", "-1", "--store", ":memory:"], "--full-snapshot-every must be"),
    (["--full-snapshot-every", "nan", "--store", ":memory:"], "--full-snapshot-every must be"),
])
def test_bad_flags_exit_2_without_traceback(args: list[str], needle: str) -> None:
    result = _run_cli(*args)
    assert result.returncode == 2, result.stderr
    assert needle in result.stderr
    assert "Traceback" not in result.stderr


def test_help_explains_every_flag() -> None:
    result = _run_cli("serve", "--help")
    assert result.returncode == 0
    for flag in ("--listen", "--store", "--token", "--read-token", "--tls-cert", "--tls-key",
                 "--tls-client-ca", "--insecure-listen-all", "--max-hz", "--stall-timeout",
                 "--full-snapshot-every", "--metrics-port", "--metrics-host"):
        assert flag in result.stdout
    top = _run_cli("--help")
    assert "serve" in top.stdout and "ingest" in top.stdout


def test_default_command_is_serve_and_prints_listen_line(tmp_path: Path) -> None:
    proc = SanctumProcess(":memory:")
    proc.command = lambda: [sys.executable, "-m", "sanctum_svc",  # type: ignore[method-assign]  # patched
                            "--listen", proc.address, "--store", ":memory:"]
    proc.start()
    try:
        assert proc.output[-1].strip() == (
            f"esper-sanctum listening on {proc.address} (store: :memory:)")
        assert proc.health() == 1  # SERVING
    finally:
        assert proc.terminate() == 0


def test_ingest_command_is_idempotent(tmp_path: Path, make_events) -> None:
    events = make_events("file-run")
    path = tmp_path / "run.events"
    with path.open("wb") as fh:
        for i in range(0, len(events), 10):
            write_batch(fh, tpb.EventBatch(events=events[i:i + 10]))
    with ThreadedSanctum() as server:
        first = _run_cli("ingest", str(path), "--server", server.address)
        assert first.returncode == 0, first.stderr
        assert f"{len(events)} applied" in first.stderr
        again = _run_cli("ingest", str(path), "--server", server.address)
        assert again.returncode == 0
        assert f"0 applied, {len(events)} already stored" in again.stderr
        snap = server.snapshot("file-run")
        assert snap.delivery.events_applied == len(events)
        missing = _run_cli("ingest", str(tmp_path / "nope"), "--server", server.address)
        assert missing.returncode == 2 and "no such event file" in missing.stderr
    down = _run_cli("ingest", str(path), "--server", server.address)
    assert down.returncode == 2 and "UNAVAILABLE" in down.stderr
    assert "Traceback" not in down.stderr
