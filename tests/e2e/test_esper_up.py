"""`esper up` (what `make run` runs) in a real terminal: tmux drives it like a person would.

It shows a live dashboard within seconds. Quitting the TUI (q) leaves sanctum and training
running: the run finishes, `esper-tui --server` shows it again, `esper down` stops
everything. Ctrl-C twice stops everything at once. Headless, Ctrl-C stops the run (STOPPED).
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.sanctum.v2.sanctum_pb2_grpc import SanctumServiceStub
from testkit import ThreadedSanctum, free_port, wait_until

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _screen(session: str) -> str:
    out = subprocess.run(["tmux", "capture-pane", "-p", "-J", "-S", "-60", "-t", session],
                         capture_output=True, text=True)
    return out.stdout


def _wait_screen(session: str, needles: tuple[str, ...], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = _screen(session)
        if all(n in screen for n in needles):
            return screen
        time.sleep(0.25)
    raise AssertionError(f"screen never showed {needles} in {timeout}s:\n{screen}")


def _episodes(screen: str) -> int:
    m = re.search(r"ep (\d+)/", screen)
    return int(m.group(1)) if m else -1


def _ours(data_dir: Path, port: int) -> list[str]:
    """Processes whose command line names our data directory or port (not the test's own
    tmux and shell, whose command lines name them too)."""
    out = subprocess.run(["pgrep", "-fa", f"{data_dir}|127.0.0.1:{port}"],
                         capture_output=True, text=True)
    return [line for line in out.stdout.splitlines()
            if not any(w in line for w in ("pgrep", "tmux", "ESPER-UP-EXITED"))]


def _none_left(data_dir: Path, port: int, after: str) -> None:
    """Every process of ours exits (exiting takes a moment on a loaded machine)."""
    left = wait_until(lambda: _ours(data_dir, port), lambda found: not found, timeout=30)
    assert left == [], f"processes left running after {after}: {left}"


def _tmux(session: str, cmd: str) -> None:
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "40", cmd],
                   check=True)


def _runs(address: str) -> list[spb.RunSummary]:
    with grpc.insecure_channel(address) as ch:
        try:
            return list(SanctumServiceStub(ch).ListRuns(spb.ListRunsRequest(), timeout=2).runs)
        except grpc.RpcError:
            return []


@pytest.fixture
def tmux() -> None:
    if shutil.which("tmux") is None or shutil.which("pgrep") is None:
        pytest.skip("tmux and pgrep are needed to drive a terminal")


def _cleanup(sessions: list[str], data_dir: Path, port: int) -> None:
    for session in sessions:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    subprocess.run([str(BIN / "esper"), "down", "--data-dir", str(data_dir)],
                   capture_output=True, timeout=90)
    for line in _ours(data_dir, port):
        subprocess.run(["kill", "-9", line.split()[0]], capture_output=True)


def _start_live(session: str, data_dir: Path, port: int, episodes: int) -> str:
    """`esper up` in tmux until its dashboard is live and the episode counter moves."""
    cmd = (f"cd {ROOT} && {BIN / 'esper'} up --data-dir {data_dir} --port {port} "
           f"--episodes {episodes}; echo ESPER-UP-EXITED $?; sleep 120")
    _tmux(session, cmd)
    t0 = time.monotonic()
    screen = _wait_screen(session, ("TAMIYO", "LIVE", "ENVS"), timeout=60)
    print(f"\nesper up: live dashboard after {time.monotonic() - t0:.1f}s")
    assert "Traceback" not in screen
    first = _episodes(screen)
    deadline = time.monotonic() + 30
    while _episodes(_screen(session)) <= first and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _episodes(_screen(session)) > first, "the episode counter did not move"
    return screen


def test_quitting_the_tui_leaves_training_running_until_esper_down(tmp_path: Path,
                                                                   tmux: None) -> None:
    port = free_port()
    session, again = f"esper-up-{port}", f"esper-tui-{port}"
    address = f"127.0.0.1:{port}"
    try:
        _start_live(session, tmp_path, port, episodes=320)
        subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=True)
        screen = _wait_screen(session, ("ESPER-UP-EXITED 0",), timeout=30)
        text = " ".join(screen.split())
        (run_id,) = re.findall(r"run (run-\S+) keeps training in the background", text)
        assert f"esper-tui --server {address} --run {run_id}" in text
        assert "esper down" in text and "Traceback" not in text

        # Training goes on without the viewer, to the end.
        deadline = time.monotonic() + 180
        runs = _runs(address)
        while not (runs and runs[0].status == spb.RUN_STATUS_COMPLETED):
            assert time.monotonic() < deadline, f"the run did not complete: {runs}"
            time.sleep(1)
            runs = _runs(address)
        assert runs[0].run_id == run_id and runs[0].episodes_completed == 320

        # The dashboard comes back on the same sanctum.
        _tmux(again, f"{BIN / 'esper-tui'} --server {address} --run {run_id}")
        _wait_screen(again, ("TAMIYO", run_id, "DONE"), timeout=60)
        subprocess.run(["tmux", "send-keys", "-t", again, "q"], check=True)

        down = subprocess.run([str(BIN / "esper"), "down", "--data-dir", str(tmp_path)],
                              capture_output=True, text=True, timeout=90)
        assert down.returncode == 0 and "stopping sanctum" in down.stderr, down.stderr
        _none_left(tmp_path, port, "esper down")
    finally:
        _cleanup([session, again], tmp_path, port)


def test_quitting_after_the_run_finished_stops_everything(tmp_path: Path, tmux: None) -> None:
    """Nothing left training: q needs nothing kept up, so nothing is left running."""
    port = free_port()
    session = f"esper-up-{port}"
    try:
        _tmux(session, f"cd {ROOT} && {BIN / 'esper'} up --data-dir {tmp_path} --port {port} "
                       "--episodes 8; echo ESPER-UP-EXITED $?; sleep 120")
        _wait_screen(session, ("TAMIYO", "DONE"), timeout=60)
        subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=True)
        screen = _wait_screen(session, ("ESPER-UP-EXITED 0",), timeout=30)
        assert "has finished, so sanctum stops too" in " ".join(screen.split())
        _none_left(tmp_path, port, "q")
        assert not (tmp_path / "esper-up.json").exists()
    finally:
        _cleanup([session], tmp_path, port)


def test_ctrl_c_twice_stops_everything(tmp_path: Path, tmux: None) -> None:
    port = free_port()
    session = f"esper-up-{port}"
    try:
        _start_live(session, tmp_path, port, episodes=4000)
        subprocess.run(["tmux", "send-keys", "-t", session, "C-c"], check=True)
        _wait_screen(session, ("press Ctrl-C again",), timeout=30)
        subprocess.run(["tmux", "send-keys", "-t", session, "C-c"], check=True)
        screen = _wait_screen(session, ("ESPER-UP-EXITED 130",), timeout=60)
        assert "stopping everything" in screen
        _none_left(tmp_path, port, "Ctrl-C twice")
        assert not (tmp_path / "esper-up.json").exists()
    finally:
        _cleanup([session], tmp_path, port)


def test_esper_down_from_another_terminal_closes_the_open_dashboard_too(
        tmp_path: Path, tmux: None) -> None:
    port = free_port()
    session = f"esper-up-{port}"
    try:
        _start_live(session, tmp_path, port, episodes=4000)
        down = subprocess.run([str(BIN / "esper"), "down", "--data-dir", str(tmp_path)],
                              capture_output=True, text=True, timeout=120)
        assert down.returncode == 0, down.stderr
        screen = _wait_screen(session, ("ESPER-UP-EXITED 130",), timeout=60)
        assert "Traceback" not in screen
        _none_left(tmp_path, port, "esper down")
        runs = []
        with ThreadedSanctum(store=str(tmp_path / "sanctum.sqlite")) as sanctum, \
                sanctum.channel() as ch:
            runs = list(sanctum.stub(ch).ListRuns(spb.ListRunsRequest()).runs)
        assert [r.status for r in runs] == [spb.RUN_STATUS_STOPPED]
    finally:
        _cleanup([session], tmp_path, port)


def test_interrupted_esper_up_run_reads_stopped_not_completed(tmp_path: Path) -> None:
    """Ctrl-C on `esper up --headless --episodes 5000` part way: the run is STOPPED
    (interrupted) with the episodes it reached, not COMPLETED; the store says so after a
    restart too, and nothing is left running."""
    port = free_port()
    proc = subprocess.Popen(
        [str(BIN / "esper"), "up", "--headless", "--data-dir", str(tmp_path), "--port",
         str(port), "--episodes", "5000", "--", "--quiet"],
        cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    try:
        deadline = time.monotonic() + 90
        runs: list[spb.RunSummary] = []
        while time.monotonic() < deadline:
            runs = _runs(f"127.0.0.1:{port}")
            if runs and runs[0].episodes_completed > 0:
                break
            time.sleep(0.3)
        assert runs and runs[0].episodes_completed > 0, "training never made progress"
        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends to the foreground process
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out
    _none_left(tmp_path, port, "Ctrl-C")
    with ThreadedSanctum(store=str(tmp_path / "sanctum.sqlite")) as sanctum, \
            sanctum.channel() as ch:
        (run,) = sanctum.stub(ch).ListRuns(spb.ListRunsRequest()).runs
    assert run.status == spb.RUN_STATUS_STOPPED, out
    assert run.status_reason == "interrupted"
    assert 0 < run.episodes_completed < 5000 and run.total_episodes == 5000


def test_a_busy_port_moves_esper_up_to_a_free_one(tmp_path: Path) -> None:
    """The port is bound by sanctum itself (port 0 when the asked one is busy) and read back
    from its address file: no probe-then-bind race. --detach returns once it is SERVING."""
    with ThreadedSanctum() as other:
        busy = int(other.address.rsplit(":", 1)[1])
        done = subprocess.run(
            [str(BIN / "esper"), "up", "--detach", "--data-dir", str(tmp_path), "--port",
             str(busy), "--episodes", "8", "--", "--quiet"],
            capture_output=True, text=True, timeout=120)
    try:
        assert done.returncode == 0, done.stderr
        assert f"cannot listen on port {busy}" in done.stderr
        address = (tmp_path / "logs" / "sanctum.address").read_text().strip()
        assert address != other.address and f"sanctum on {address}" in done.stderr
        from esper_common.up import health

        assert health(address) == "SERVING"
    finally:
        subprocess.run([str(BIN / "esper"), "down", "--data-dir", str(tmp_path)],
                       capture_output=True, timeout=90)
    assert _ours(tmp_path, busy) == []
