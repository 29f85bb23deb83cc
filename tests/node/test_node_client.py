"""The TypeScript client (clients/node) against a live sanctum on loopback.

It is built here (`npm ci` only when node_modules is missing or older than the lockfile, then
tsc, both through clients/node's Makefile), run as `node dist/cli.js`, and its printed lines are
checked against what the Python client reads from the same server.
"""

from __future__ import annotations

import fcntl
import re
import shutil
import signal
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

import esper_client
from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_common.derived import memory_usage_percent
from testkit import ThreadedSanctum

ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = ROOT / "clients" / "node"
CLI = NODE_DIR / "dist" / "cli.js"
MISSING = [tool for tool in ("node", "npm", "make") if shutil.which(tool) is None]

pytestmark = [
    pytest.mark.node,
    pytest.mark.skipif(bool(MISSING), reason=f"needs {' and '.join(MISSING)} for the Node client"),
]

LINE = re.compile(
    r"^run=(?P<run>\S+) v=(?P<version>\d+) batch=(?P<batch>\d+) policy_loss=(?P<loss>\S+) "
    r"health=(?P<health>\S+) (?P<heads>.*) Mem:(?P<mem>\S+) (?P<live>\S+)$"
)
EventMaker = Callable[..., list[tpb.TelemetryEvent]]


@pytest.fixture(scope="module")
def built() -> Path:
    """Install (if stale) and compile the client once per test module.

    A file lock keeps parallel test processes from running `npm ci` into the same folder.
    """
    with (NODE_DIR / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = subprocess.run(["make", "-s", "-C", str(NODE_DIR), "build"],
                              capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"building clients/node failed:\n{done.stdout}\n{done.stderr}"
    assert CLI.exists()
    return CLI


def node(cli: Path, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["node", str(cli), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=NODE_DIR)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unit_tests_pass(built: Path) -> None:
    done = subprocess.run(["npm", "test", "--silent"], capture_output=True, text=True,
                          timeout=60, cwd=NODE_DIR)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^# pass [1-9]", done.stdout, re.M)
    assert re.search(r"^# fail 0$", done.stdout, re.M)


def test_list_and_watch_match_the_python_view(
    built: Path, sanctum: ThreadedSanctum, make_events: EventMaker
) -> None:
    sanctum.ingest(make_events("run-node", n_batches=3, cuda_memory=(4.2, 8.0)))
    expected = sanctum.snapshot("run-node")
    group = expected.tamiyo.groups[0]
    assert group.HasField("last_update") and group.last_update.heads

    listed = node(built, "--server", sanctum.address, "list")
    assert listed.returncode == 0, listed.stderr
    rows = [line.split("\t") for line in listed.stdout.splitlines()]
    assert [r[0] for r in rows] == ["run-node"]
    assert f"events={expected.delivery.events_applied}" in rows[0]

    watched = node(built, "--server", sanctum.address, "--run", "run-node", "--count", "1",
                   "watch")
    assert watched.returncode == 0, watched.stderr
    lines = watched.stdout.splitlines()
    assert len(lines) == 1, lines
    m = LINE.match(lines[0])
    assert m, lines[0]
    assert m["run"] == "run-node"
    assert int(m["batch"]) == expected.run.last_batch.batch_idx
    assert float(m["loss"]) == pytest.approx(group.last_update.policy_loss, abs=5e-5)
    heads = dict(pair.split("=") for pair in m["heads"].split())
    want = {tpb.ActionHead.Name(h.head).removeprefix("ACTION_HEAD_").lower(): h.entropy
            for h in group.last_update.heads}
    assert set(heads) == set(want) and {"op", "slot", "alpha_curve"} <= set(heads)
    for name, entropy in want.items():
        assert float(heads[name]) == pytest.approx(entropy, abs=5e-3), name
    # 4.2 / 8.0 GB = 52.5 %, rounded either way.
    assert m["mem"] in {"52%", "53%"}
    assert abs(float(m["mem"][:-1]) - memory_usage_percent(group.last_measured)) <= 1
    assert m["live"] in {"LIVE", "SLOW", "STALE"}


def test_cpu_run_shows_memory_as_not_measured(
    built: Path, sanctum: ThreadedSanctum, make_events: EventMaker
) -> None:
    sanctum.ingest(make_events("run-cpu", cuda_memory=None))
    done = node(built, "--server", sanctum.address, "--count", "1")  # watch is the default
    assert done.returncode == 0, done.stderr
    m = LINE.match(done.stdout.strip())
    assert m and m["run"] == "run-cpu"
    assert m["mem"] == "—"


def test_watch_prints_the_runs_own_metrics(built: Path, sanctum: ThreadedSanctum) -> None:
    with esper_client.init(server=sanctum.address, run_id="run-sdk") as run:
        for step in range(3):
            run.log({"loss": 0.5 / (step + 1), "lr": 3e-4}, step=step)
    done = node(built, "--server", sanctum.address, "--run", "run-sdk", "--count", "1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().endswith(" metrics=loss=0.1667,lr=0.0003"), done.stdout


@pytest.mark.parametrize("count", [["--count", "5"], []], ids=["count-5", "no-count"])
def test_watch_of_a_finished_run_ends_instead_of_hanging(
    built: Path, sanctum: ThreadedSanctum, make_events: EventMaker, count: list[str]
) -> None:
    events = make_events("run-over", n_batches=1, completed=True)
    events[-1].training_completed.status = "interrupted"
    sanctum.ingest(events)
    done = node(built, "--server", sanctum.address, "--run", "run-over", *count, timeout=20)
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.splitlines()
    assert line.startswith("run=run-over ") and line.endswith(" STOPPED"), line
    assert "run run-over has ended (stopped (interrupted))" in done.stderr
    listed = node(built, "--server", sanctum.address, "list")
    assert listed.stdout.split("\t")[1] == "stopped (interrupted)"


def test_ctrl_c_ends_an_open_watch_cleanly(
    built: Path, sanctum: ThreadedSanctum, make_events: EventMaker
) -> None:
    sanctum.ingest(make_events("run-int"))
    proc = subprocess.Popen(["node", str(built), "--server", sanctum.address, "--heartbeats"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=NODE_DIR)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # blocks until the first snapshot arrived
        assert first.startswith("run=run-int "), first
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert err == ""
    assert all(line.startswith(("run=", "heartbeat ")) for line in out.splitlines())


def test_token_is_sent_and_a_wrong_one_is_reported(built: Path, make_events: EventMaker) -> None:
    with ThreadedSanctum(token="node-secret") as server:
        server.ingest(make_events("run-auth"))
        ok = node(built, "--server", server.address, "--token", "node-secret", "list")
        assert ok.returncode == 0, ok.stderr
        assert ok.stdout.startswith("run-auth\t")
        bad = node(built, "--server", server.address, "--token", "wrong", "--count", "1")
    assert bad.returncode == 1
    assert "refused the credentials" in bad.stderr
    assert bad.stdout == ""


@pytest.mark.parametrize("command", ["list", "watch"])
def test_unreachable_server_is_one_clear_line(built: Path, command: str) -> None:
    address = f"127.0.0.1:{closed_port()}"
    done = node(built, "--server", address, "--timeout", "5", command)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"esper-sanctum-node: cannot reach sanctum at {address}: "
        f"connect ECONNREFUSED {address}"
    ]
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "--server HOST:PORT is required"),
        (["--server", "nohost"], "--server must be HOST:PORT"),
        (["--server", "localhost:1", "--count", "0"], "--count must be a positive integer"),
        (["--server", "localhost:1", "frobnicate"], "unknown command 'frobnicate'"),
    ],
)
def test_bad_usage_exits_2_without_a_trace(built: Path, args: list[str], message: str) -> None:
    done = node(built, *args)
    assert done.returncode == 2
    assert message in done.stderr
    assert "    at " not in done.stderr  # no JavaScript stack trace


def test_several_servers_fail_over_to_the_one_that_answers(
    built: Path, sanctum: ThreadedSanctum, make_events: EventMaker
) -> None:
    sanctum.ingest(make_events("run-failover", n_batches=2))
    dead = f"127.0.0.1:{closed_port()}"
    servers = f"{dead},{sanctum.address}"
    listed = node(built, "--server", servers, "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.startswith("run-failover\t")
    assert f"trying {sanctum.address}" in listed.stderr
    watched = node(built, "--server", servers, "--run", "run-failover", "--count", "1")
    assert watched.returncode == 0, watched.stderr
    assert LINE.match(watched.stdout.strip())
    both_dead = node(built, "--server", f"{dead},127.0.0.1:{closed_port()}", "list")
    assert both_dead.returncode == 1 and "cannot reach sanctum" in both_dead.stderr
