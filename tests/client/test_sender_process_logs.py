"""The sender process logs as the training process does: in its format (esper_common.logs
text or JSON, with the process's fields), or plainly at the level the training process set
on "esper_client". The training process runs as a subprocess here, so that what its child
writes to the inherited stderr can be read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.client.test_telemetry_client import REPO

#: A training process whose sanctum never answers: the child warns that it is unreachable,
#: then, at close, where it saved the undelivered events. Prints its own and the child's pid.
JSON_PARENT = """
import json, os, sys
from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_client import TelemetryClient, TelemetryConfig
from esper_common import logs
from testkit import free_port
logs.configure("warning", "json", service="trainer")
logs.bind_process(run_id="run-logs", producer_id="trainer-7")
with logs.fields(rpc="not-the-process"):  # a block's fields stay in this process
    client = TelemetryClient(TelemetryConfig(
        f"127.0.0.1:{free_port()}", run_id="run-logs", producer_id="trainer-7",
        spool_dir=sys.argv[1], sender_process=True, backoff_initial_s=0.05, backoff_max_s=0.3))
    client.start()
assert client._sidecar is not None and client._sidecar.ready.wait(30)
child = client._sidecar._proc.pid
for i in range(5):
    client.emit(tpb.TelemetryEvent(event_type=tpb.EVENT_TYPE_EPOCH_COMPLETED,
                                   epoch_completed=tpb.EpochCompletedPayload(reward=i)))
client.close(timeout=0.5)
print(json.dumps({"parent": os.getpid(), "child": child}))
"""

#: A training process at `level` on "esper_client", through esper_common.logs (text) or a
#: script's own logging (root at WARNING); sanctum comes up after the child failed to reach
#: it, so the child logs (at INFO) that it delivers again.
LEVEL_PARENT = """
import json, logging, os, sys, time
from esper_client import TelemetryClient, TelemetryConfig
from esper_common import logs
from testkit import ThreadedSanctum, free_port
from tests.client.test_telemetry_client_sanctum import run_events
how, level = sys.argv[2:]
if how == "logs":
    logs.configure(level.lower(), "text", service="trainer")
    logs.bind_process(run_id="run-plain", producer_id="p")
else:
    logging.basicConfig(format="user: %(message)s")
    logging.getLogger("esper_client").setLevel(level)
port = free_port()
client = TelemetryClient(TelemetryConfig(
    f"127.0.0.1:{port}", run_id="run-plain", producer_id="p", spool_dir=sys.argv[1],
    sender_process=True, backoff_initial_s=0.05, backoff_max_s=0.2))
client.start()
assert client._sidecar is not None and client._sidecar.ready.wait(30)
child = client._sidecar._proc.pid
events = run_events("run-plain", n_batches=1)
for event in events:
    client.emit(event)

def wait(what, timeout=20.0):
    end = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)

wait(lambda: client.stats()["errors"] >= 1)
with ThreadedSanctum(port=port):
    wait(lambda: client.stats()["acked"] == len(events))
    client.close(timeout=5)
assert client._sidecar.fallback is None
print(json.dumps({"parent": os.getpid(), "child": child}))
"""


def run_parent(script: str, *args: str) -> tuple[dict[str, int], str]:
    proc = subprocess.run([sys.executable, "-c", script, *args], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), proc.stderr


def test_json_parent_gets_json_lines_with_its_fields_from_the_child(tmp_path: Path) -> None:
    pids, stderr = run_parent(JSON_PARENT, str(tmp_path))
    records = [json.loads(line) for line in stderr.splitlines()]  # every line is one object
    assert all(isinstance(r, dict) for r in records)
    from_child = [r for r in records if r.get("sender_pid") == pids["child"]]
    assert from_child and pids["child"] != pids["parent"]
    assert len(from_child) == len(records)  # the training process itself logged nothing
    for record in from_child:
        assert (record["service"], record["run_id"], record["producer_id"]) == (
            "trainer", "run-logs", "trainer-7")
        assert record["logger"] == "esper_client" and "rpc" not in record
    assert any(r["level"] == "warning" and r["msg"].startswith("telemetry: sanctum 127.0.0.1:")
               and "unreachable" in r["msg"] for r in from_child)
    saved = [r for r in from_child if "were not delivered before close" in r["msg"]]
    assert len(saved) == 1 and saved[0]["level"] == "warning"
    assert "esper-sanctum ingest" in saved[0]["msg"] and str(tmp_path) in saved[0]["msg"]


@pytest.mark.parametrize("level", ["INFO", "WARNING"])
def test_child_logs_at_the_level_a_script_set_on_esper_client(tmp_path: Path,
                                                              level: str) -> None:
    pids, stderr = run_parent(LEVEL_PARENT, str(tmp_path), "own", level)
    prefix = f"esper-telemetry (sender process {pids['child']}): "
    lines = [line[len(prefix):] for line in stderr.splitlines() if line.startswith(prefix)]
    again = [line for line in lines if "delivering to sanctum again" in line]
    if level == "INFO":
        assert len(again) == 1 and again[0].startswith("INFO: telemetry: delivering to sanctum "
                                                       "again after ")
    else:
        assert again == []
    assert any(line.startswith("WARNING: telemetry: sanctum 127.0.0.1:") and "unreachable" in line
               for line in lines)


def test_text_parent_at_info_gets_the_childs_info_records_with_its_fields(
        tmp_path: Path) -> None:
    pids, stderr = run_parent(LEVEL_PARENT, str(tmp_path), "logs", "INFO")
    tag = f" [service=trainer run_id=run-plain producer_id=p sender_pid={pids['child']}]: "
    again = [line for line in stderr.splitlines()
             if f" INFO esper_client{tag}telemetry: delivering to sanctum again after " in line]
    assert len(again) == 1
    assert any(f" WARNING esper_client{tag}telemetry: sanctum 127.0.0.1:" in line
               for line in stderr.splitlines())
