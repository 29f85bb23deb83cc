"""`esper up` (what `make run` runs) in a real terminal: tmux drives it like a person would.

It must show a live dashboard within seconds, and quitting (q or Ctrl-C) must stop the
sanctum, the trainer and the TUI: nothing left running.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from testkit import free_port

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _screen(session: str) -> str:
    out = subprocess.run(["tmux", "capture-pane", "-p", "-t", session],
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


def _ours(port: int) -> list[str]:
    out = subprocess.run(["pgrep", "-fa", f"127.0.0.1:{port}"], capture_output=True, text=True)
    return [line for line in out.stdout.splitlines() if "pgrep" not in line]


@pytest.mark.parametrize("quit_keys", [["q"], ["C-c"]], ids=["q", "ctrl-c"])
def test_esper_up_shows_a_live_dashboard_and_quits_cleanly(tmp_path: Path,
                                                           quit_keys: list[str]) -> None:
    if shutil.which("tmux") is None or shutil.which("pgrep") is None:
        pytest.skip("tmux and pgrep are needed to drive a terminal")
    port = free_port()
    session = f"esper-up-{port}"
    esper = Path(sys.executable).with_name("esper")
    cmd = (f"cd {ROOT} && {esper} up --data-dir {tmp_path} --port {port} --episodes 4000; "
           f"echo ESPER-UP-EXITED $?; sleep 60")
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "40", cmd],
                   check=True)
    try:
        t0 = time.monotonic()
        screen = _wait_screen(session, ("TAMIYO", "LIVE", "ENVS"), timeout=60)
        shown_after = time.monotonic() - t0
        print(f"\nesper up: live dashboard after {shown_after:.1f}s")
        assert "Traceback" not in screen
        # Data really flows: the episode counter moves.
        first = _episodes(screen)
        deadline = time.monotonic() + 30
        while _episodes(_screen(session)) <= first and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _episodes(_screen(session)) > first, "the episode counter did not move"
        subprocess.run(["tmux", "send-keys", "-t", session, *quit_keys], check=True)
        _wait_screen(session, ("ESPER-UP-EXITED 0",), timeout=30)
        deadline = time.monotonic() + 15
        while _ours(port) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _ours(port) == [], "processes left running after quitting"
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
        for line in _ours(port):
            subprocess.run(["kill", "-9", line.split()[0]], capture_output=True)


def test_interrupted_esper_up_run_reads_stopped_not_completed(tmp_path: Path) -> None:
    """Ctrl-C on `esper up --episodes 5000` part way: the run is STOPPED (interrupted) with
    the episodes it reached, not COMPLETED; the store says so after a restart too."""
    import signal

    import grpc

    from esper.sanctum.v2 import sanctum_pb2 as spb
    from esper.sanctum.v2.sanctum_pb2_grpc import SanctumServiceStub
    from testkit import ThreadedSanctum

    port = free_port()
    esper = Path(sys.executable).with_name("esper")
    proc = subprocess.Popen(
        [str(esper), "up", "--headless", "--data-dir", str(tmp_path), "--port", str(port),
         "--episodes", "5000", "--", "--quiet"],
        cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            stub = SanctumServiceStub(ch)
            deadline = time.monotonic() + 90
            runs: list[spb.RunSummary] = []
            while time.monotonic() < deadline:
                try:
                    runs = list(stub.ListRuns(spb.ListRunsRequest(), timeout=2).runs)
                except Exception:  # sanctum still starting
                    runs = []
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
    with ThreadedSanctum(store=str(tmp_path / "sanctum.sqlite")) as sanctum, \
            sanctum.channel() as ch:
        (run,) = sanctum.stub(ch).ListRuns(spb.ListRunsRequest()).runs
    assert run.status == spb.RUN_STATUS_STOPPED, out
    assert run.status_reason == "interrupted"
    assert 0 < run.episodes_completed < 5000 and run.total_episodes == 5000
