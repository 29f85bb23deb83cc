"""`esper-trainer` as a user meets it: event-file mode, clear errors, SIGINT."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_common.eventfile import read_batches
from trainer_svc.cli import build_parser, main

TINY = ["--episodes", "4", "--envs", "2", "--max-epochs", "4", "--ppo-epochs", "1"]


def _events(path) -> list[tpb.TelemetryEvent]:
    return [e for b in read_batches(path) for e in b.events]


def test_without_sanctum_writes_an_event_file(tmp_path, capsys, restore_signals) -> None:
    path = tmp_path / "run.events"
    assert main([*TINY, "--events-file", str(path), "--run-id", "cli-run"]) == 0
    err = capsys.readouterr().err
    assert f"load them into a local sanctum with: esper-sanctum ingest {path}\n" in err
    assert "add --server HOST:PORT" in err and "episodes" in err
    events = _events(path)
    assert events[0].event_type == tpb.EVENT_TYPE_TRAINING_STARTED
    assert events[-1].training_completed.status == "completed"
    assert {e.run_id for e in events} == {"cli-run"}
    assert [e.seq for e in events] == list(range(1, len(events) + 1))


def test_no_telemetry_runs(capsys, restore_signals) -> None:
    assert main([*TINY, "--no-telemetry", "--quiet"]) == 0
    assert "completed: 4 episodes" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "message"), [
    (["--envs", "0"], "--envs must be >= 1"),
    (["--tls-ca", "/nonexistent.pem", "--sanctum", "localhost:1"], "/nonexistent.pem"),
    (["--sanctum", "no-port"], "host:port"),
])
def test_user_errors_are_clear(argv, message, capsys, restore_signals) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_help_documents_every_setting() -> None:
    text = build_parser().format_help()
    for flag in ("--sanctum", "--episodes", "--envs", "--seed", "--device", "--compile",
                 "--token", "--tls-ca", "--run-id", "--events-file", "--no-telemetry"):
        assert flag in text


def test_sigint_stops_and_records_interrupted(tmp_path) -> None:
    path = tmp_path / "int.events"
    proc = subprocess.Popen(
        [sys.executable, "-m", "trainer_svc", "--episodes", "4000", "--envs", "2",
         "--max-epochs", "4", "--events-file", str(path)],
        stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # wait for the first finished batch
            if "episodes  reward" in proc.stderr.readline():
                break
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    last = _events(path)[-1]
    assert last.training_completed.status == "interrupted"


def test_the_sender_runs_in_a_process_only_with_a_spare_cpu(tmp_path, capsys,
                                                             restore_signals) -> None:
    from esper_client.config import usable_cpus

    mask = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(mask)})  # this thread: what usable_cpus() reads
    try:
        assert main([*TINY, "--events-file", str(tmp_path / "one.events")]) == 0
    finally:
        os.sched_setaffinity(0, mask)
    assert "(sender thread)" in capsys.readouterr().err
    if usable_cpus() >= 2:
        path = tmp_path / "two.events"
        assert main([*TINY, "--events-file", str(path)]) == 0
        assert "(sender process)" in capsys.readouterr().err
        events = _events(path)
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert events[-1].training_completed.status == "completed"
    assert main([*TINY, "--events-file", str(tmp_path / "forced.events"),
                 "--sender", "thread"]) == 0
    assert "(sender thread)" in capsys.readouterr().err
