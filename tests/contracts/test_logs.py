"""The one logging helper: text or JSON records with the structured fields (service, run_id,
producer_id, peer, rpc, status), from context blocks, the process and `extra=`."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from esper_common import logs
from testkit import free_port


def _reset() -> None:
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, logs._Handler)]:
        root.removeHandler(handler)
    logs._process.clear()
    logs._format[0] = "text"
    logging.captureWarnings(False)


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    root = logging.getLogger()
    level = root.level
    _reset()  # whatever an earlier test in this worker configured
    yield out
    _reset()
    root.setLevel(level)


def test_json_records_carry_context_process_and_extra_fields(stream: io.StringIO) -> None:
    logs.configure("info", "json", stream, service="unit")
    log = logging.getLogger("esper.unit")
    with logs.fields(rpc="Ingest", peer="ipv4:1.2.3.4:5"):
        logs.bind(run_id="r1")
        log.info("inside %d", 1, extra={"producer_id": "p"})
    log.warning("outside")
    log.debug("not shown at info")
    inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert inside == {"ts": inside["ts"], "level": "info", "logger": "esper.unit",
                      "msg": "inside 1", "service": "unit", "run_id": "r1",
                      "producer_id": "p", "peer": "ipv4:1.2.3.4:5", "rpc": "Ingest"}
    assert inside["ts"].endswith("Z") and "T" in inside["ts"]
    assert outside["msg"] == "outside" and "rpc" not in outside and outside["service"] == "unit"
    assert logs.is_json()


def test_fields_stay_with_their_own_task(stream: io.StringIO) -> None:
    logs.configure("info", "json", stream)
    log = logging.getLogger("esper.unit")

    async def call(name: str) -> None:
        with logs.fields(rpc=name):
            await asyncio.sleep(0.01)
            logs.bind(run_id=f"run-{name}")
            await asyncio.sleep(0.01)
            log.info("done")

    async def both() -> None:
        await asyncio.gather(call("A"), call("B"))

    asyncio.run(both())
    records = {r["rpc"]: r for r in map(json.loads, stream.getvalue().splitlines())}
    assert records["A"]["run_id"] == "run-A" and records["B"]["run_id"] == "run-B"


def test_text_records_keep_multiline_messages_and_tracebacks_intact(
        stream: io.StringIO) -> None:
    logs.configure("warning", "text", stream)
    log = logging.getLogger("esper.unit")
    with logs.fields(run_id="r2"):
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("saved to\n  esper-sanctum ingest x.events")
    text = stream.getvalue()
    first, second = text.splitlines()[:2]
    assert first.endswith(" ERROR esper.unit [run_id=r2]: saved to")
    assert second == "  esper-sanctum ingest x.events"
    assert "ValueError: boom" in text


def test_configure_twice_replaces_its_handler(stream: io.StringIO) -> None:
    logs.configure("info", "text", stream)
    logs.configure("info", "json", stream)
    logging.getLogger("esper.unit").info("once")
    assert len(stream.getvalue().splitlines()) == 1
    with pytest.raises(ValueError):
        logs.configure("loud", "text", stream)


def test_the_trainers_records_name_its_run_and_producer(tmp_path: Path) -> None:
    """A trainer whose sanctum is down logs JSON records with its run, producer and peer."""
    target = f"127.0.0.1:{free_port()}"
    done = subprocess.run(
        [sys.executable, "-m", "trainer_svc", "--episodes", "4", "--envs", "2",
         "--max-epochs", "2", "--ppo-epochs", "1", "--quiet", "--run-id", "log-run",
         "--sanctum", target, "--spool-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "ESPER_LOG_FORMAT": "json"})
    assert done.returncode == 0, done.stderr
    records = [json.loads(x) for x in done.stderr.splitlines()]  # every line, status too
    assert any(r.get("event") == "telemetry" for r in records), done.stderr
    for record in records:
        assert record["service"] == "trainer" and record["run_id"] == "log-run"
        assert record["producer_id"] and record["peer"] == target


def test_what_another_process_needs_to_log_like_this_one(stream: io.StringIO) -> None:
    assert not logs.configured()  # a script's own handlers are not ours
    logs.configure("info", "json", stream, service="unit")
    logs.bind_process(run_id="r1")
    with logs.fields(rpc="Ingest"):
        assert logs.process_fields() == {"service": "unit", "run_id": "r1"}
        assert logs.current()["rpc"] == "Ingest"
    assert logs.configured() and logs.is_json()


def test_status_lines_are_the_text_or_one_record_with_typed_figures(
        stream: io.StringIO) -> None:
    logs.configure("error", "text", stream)
    logs.status("summary", "\rtool: emitted 3", stream=stream, end="", emitted=3)
    assert stream.getvalue() == "\rtool: emitted 3"  # text: exactly as given
    stream.truncate(0)
    stream.seek(0)
    logs.configure("error", "json", stream, service="unit")  # status ignores the level
    logs.bind_process(run_id="r1")
    logs.status("summary", "\ntool: emitted 3\n", stream=stream, emitted=3, unknown=None)
    (record,) = map(json.loads, stream.getvalue().splitlines())
    assert record == {"ts": record["ts"], "level": "info", "event": "summary",
                      "msg": "tool: emitted 3", "service": "unit", "run_id": "r1",
                      "emitted": 3}
    with pytest.raises(ValueError):
        logs.status("x", "y", stream=stream, msg="clash")


def test_listening_line_is_read_in_either_format() -> None:
    from sanctum_svc.cli import listening_address

    assert listening_address("esper-sanctum listening on 127.0.0.1:5 (store: x)\n") == \
        "127.0.0.1:5"
    assert listening_address('{"event": "listening", "address": "127.0.0.1:6"}\n') == \
        "127.0.0.1:6"
    for other in ('{"event": "metrics", "address": "a:1"}', "{not json", "[1]", "", "x"):
        assert listening_address(other) is None


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_trainer_progress_on_a_terminal(stream: io.StringIO, fmt: str) -> None:
    """Text redraws one bar in place; JSON writes one record per batch, never a bare '\\r'."""
    from trainer_svc.progress import Progress
    from trainer_svc.train import BatchReport

    logs.configure("warning", fmt, stream)
    tty = _Terminal()
    progress = Progress(4, stream=tty)
    progress(BatchReport(0, 2, 2, 1.0, 0.5))
    progress(BatchReport(1, 2, 4, 2.0, 0.625))
    if fmt == "text":
        assert tty.getvalue().startswith("\r[############............] 2/4 episodes  ")
        assert tty.getvalue().count("\r") == 2 and tty.getvalue().count("\n") == 1
        return
    records = [json.loads(line) for line in tty.getvalue().splitlines()]
    assert [(r["event"], r["episodes"], r["accuracy"]) for r in records] == [
        ("progress", 2, 0.5), ("progress", 4, 0.625)]
    assert "\r" not in tty.getvalue()
