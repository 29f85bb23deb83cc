"""Under `--log-format json` every line a command writes, on stdout and on stderr, is one JSON
object: log records and the status lines a person reads in text mode (start, progress,
summaries, errors), which carry a stable `event`, the text as `msg` and their figures typed.
Real commands as subprocesses against a real sanctum; text mode keeps its exact lines."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testkit import SanctumProcess, free_port
from tests.bridge.original import FIXTURE, records, write

BIN = Path(sys.executable).parent
TRAINER = [sys.executable, "-m", "trainer_svc"]
SANCTUM = [sys.executable, "-m", "sanctum_svc"]
TINY = ["--episodes", "4", "--envs", "2", "--max-epochs", "2", "--ppo-epochs", "1"]
JSON = ["--log-format", "json"]
Record = dict[str, Any]


def _run(cmd: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ESPER_")}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env={**env, "OMP_NUM_THREADS": "1"})


def _json_lines(text: str) -> list[Record]:
    """Every line of `text` as a JSON object (the assertion names the first that is not)."""
    out = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r} in:\n{text}") from None
        assert isinstance(record, dict) and {"ts", "level", "msg"} <= record.keys(), line
        out.append(record)
    return out


def _records(done: subprocess.CompletedProcess[str]) -> list[Record]:
    return _json_lines(done.stdout) + _json_lines(done.stderr)


def _event(records: list[Record], name: str) -> list[Record]:
    return [r for r in records if r.get("event") == name]


@pytest.fixture(scope="module")
def sanctum(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SanctumProcess]:
    store = tmp_path_factory.mktemp("jsonlines") / "s.sqlite"
    with SanctumProcess(str(store), extra_args=[*JSON, "--metrics-port",
                                                str(free_port())]) as proc:
        yield proc


def test_sanctum_serve_writes_json_lines(sanctum: SanctumProcess) -> None:
    records = _json_lines("".join(sanctum.output))
    (listening,) = _event(records, "listening")
    assert listening["address"] == sanctum.address and listening["service"] == "sanctum"
    assert listening["msg"].startswith("esper-sanctum listening on ")
    assert _event(records, "metrics")[0]["url"].endswith("/metrics")


def test_trainer_status_lines_are_json_records_with_typed_figures(
        sanctum: SanctumProcess) -> None:
    done = _run([*TRAINER, *TINY, *JSON, "--sanctum", sanctum.address, "--sender", "process",
                 "--run-id", "jl-trainer"])
    assert done.returncode == 0, done.stderr
    records = _records(done)
    assert all(r["service"] == "trainer" and r["run_id"] == "jl-trainer" for r in records)
    (start,) = _event(records, "start")
    assert start["sanctum"] == sanctum.address and start["sender"] == "process"
    assert (start["episodes"], start["envs"]) == (4, 2)
    assert start["msg"].endswith(f"telemetry -> {sanctum.address} (sender process)")
    progress = _event(records, "progress")
    assert [p["episodes"] for p in progress] == [2, 4] and progress[-1]["total"] == 4
    assert all(isinstance(p["reward"], float) and 0 <= p["accuracy"] <= 1 for p in progress)
    (completed,) = _event(records, "completed")
    assert completed["status"] == "completed" and completed["episodes"] == 4
    # One clock: the bar's last time is the loop's, not the loop's plus the start-up (the
    # sender process's start among it) that the completion line leaves out.
    assert 0 < progress[-1]["elapsed_s"] <= completed["wall_time_s"]
    (summary,) = _event(records, "telemetry")
    assert type(summary["emitted"]) is int and summary["emitted"] > 0
    assert summary["acked"] == summary["emitted"] and summary["dropped"] == 0
    assert summary["msg"].startswith(f"esper-trainer: telemetry: emitted {summary['emitted']}")


def test_trainer_text_lines_read_as_before(tmp_path: Path) -> None:
    path = tmp_path / "t.events"
    done = _run([*TRAINER, *TINY, "--events-file", str(path), "--sender", "thread",
                 "--run-id", "jl-text"])
    assert done.returncode == 0, done.stderr
    patterns = [
        rf"esper-trainer: run jl-text, 4 episodes x 2 epochs, 2 envs on cpu; telemetry -> "
        rf"event file {re.escape(str(path))} \(sender thread\)",
        r"\[#{12}\.{12}\] 2/4 episodes  reward [+-]\d\.\d{3}  acc \d\.\d{3}  \d+\.\ds",
        r"\[#{24}\] 4/4 episodes  reward [+-]\d\.\d{3}  acc \d\.\d{3}  \d+\.\ds",
        r"esper-trainer: completed: 4 episodes in \d+\.\ds, final accuracy \d\.\d{3}, "
        r"mean episode reward [+-]\d\.\d{3}",
        rf"esper-trainer: events written to {re.escape(str(path))}",
        rf"  load them into a local sanctum with: esper-sanctum ingest {re.escape(str(path))}",
        r"  \(another sanctum: add --server HOST:PORT, and --tls-ca FILE / --token "
        r"\"\$ESPER_TOKEN\" if it uses them\)",
        r"esper-trainer: telemetry: emitted (\d+), acked \1, resent 0, dropped 0, "
        r"reconnects 0",
    ]
    lines = done.stderr.splitlines()
    assert len(lines) == len(patterns), done.stderr
    for line, pattern in zip(lines, patterns, strict=True):
        assert re.fullmatch(pattern, line), (line, pattern)


def test_trainer_user_error_is_a_json_record() -> None:
    done = _run([*TRAINER, *JSON, "--envs", "0"])
    assert done.returncode == 2
    (error,) = _records(done)
    assert error["event"] == "error" and error["level"] == "error"
    assert "--envs must be >= 1" in error["msg"]


def test_ingest_and_export_write_json_lines(sanctum: SanctumProcess, tmp_path: Path) -> None:
    path = tmp_path / "run.events"
    made = _run([*TRAINER, *TINY, *JSON, "--events-file", str(path), "--sender", "thread",
                 "--run-id", "jl-file"])
    assert made.returncode == 0, made.stderr
    (written,) = _event(_records(made), "events_file")
    assert written["path"] == str(path)
    emitted = _event(_records(made), "telemetry")[0]["emitted"]

    done = _run([*SANCTUM, "ingest", str(path), "--server", sanctum.address, *JSON])
    assert done.returncode == 0, done.stderr
    (ingested,) = _event(_records(done), "ingested")
    assert ingested["events"] == ingested["applied"] == emitted
    assert ingested["cursors"][0]["run_id"] == "jl-file"
    assert ingested["cursors"][0]["last_seq"] == emitted

    done = _run([*SANCTUM, "export", "jl-file", "--format", "csv", "--out",
                 str(tmp_path / "out"), "--server", sanctum.address, *JSON])
    assert done.returncode == 0, done.stderr
    (exported,) = _event(_records(done), "exported")
    assert exported["run_id"] == "jl-file" and exported["series"] > 0
    assert type(exported["points"]) is int and exported["points"] > 0
    assert all(Path(f).is_file() for f in exported["files"])

    done = _run([*SANCTUM, "export", "no-such-run", "--out", str(tmp_path / "x"),
                 "--server", sanctum.address, *JSON])
    assert done.returncode == 2
    (error,) = _records(done)
    assert error["event"] == "error" and "no-such-run" in error["msg"]


def test_import_summary_is_one_json_record(sanctum: SanctumProcess, tmp_path: Path) -> None:
    small = write(tmp_path / "small.jsonl", [*records(FIXTURE)[:300], "not json"])
    done = _run([*SANCTUM, "import", str(small), "--server", sanctum.address, *JSON])
    assert done.returncode == 0, done.stderr
    (summary,) = _event(_records(done), "import_summary")
    assert summary["lines"] == 301 and summary["skipped"] >= 1
    assert summary["sent"] == summary["applied"] > 0 and summary["runs"] == 1
    assert summary["msg"].startswith("import: small.jsonl: 301 lines")
    assert any(d.startswith("malformed line 301 skipped: not JSON") for d in summary["details"])


def test_esper_up_headless_writes_json_lines(tmp_path: Path) -> None:
    done = _run([str(BIN / "esper"), "up", "--headless", *JSON, "--data-dir", str(tmp_path),
                 "--port", str(free_port()), "--episodes", "4", "--envs", "2", "--",
                 "--max-epochs", "2", "--ppo-epochs", "1"])
    assert done.returncode == 0, done.stderr
    records = _records(done)
    (started,) = _event(records, "sanctum_started")
    assert started["service"] == "up" and started["store"].endswith("sanctum.sqlite")
    (run,) = _event(records, "trainer_started")
    (summary,) = _event(records, "telemetry")
    assert summary["run_id"] == run["run_id"] and summary["acked"] == summary["emitted"] > 0
    sanctum_log = _json_lines((tmp_path / "logs" / "sanctum.log").read_text())
    assert _event(sanctum_log, "listening")[0]["address"] == started["address"]
