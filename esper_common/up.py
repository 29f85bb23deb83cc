"""`esper up`: a local sanctum (embedded store), a training run streaming into it, and the TUI.

The first thing a newcomer types. Each part runs as its own process, exactly as it would on
separate machines; this module only starts them in order and stops all of them on the way
out (TUI quit, Ctrl-C, SIGTERM), so nothing is left running.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

LISTEN_LINE = "esper-sanctum listening on"


@dataclass
class UpConfig:
    """What `esper up` starts (see `esper up --help`)."""

    port: int = 50051
    data_dir: Path | None = None
    episodes: int | None = None
    envs: int | None = None
    seed: int | None = None
    device: str | None = None
    headless: bool = False
    trainer_args: tuple[str, ...] = ()


def default_data_dir() -> Path:
    """$XDG_DATA_HOME/esper, else ~/.local/share/esper."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "esper"


def free_port(preferred: int) -> int:
    """`preferred` if nothing listens on it, else a free ephemeral port."""
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError("no free port")


def _stop(proc: subprocess.Popen[bytes] | None, name: str, timeout: float = 10.0) -> None:
    """SIGTERM, bounded wait, then SIGKILL: never leave a process behind."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        print(f"esper up: {name} did not stop in {timeout:.0f}s; killing it", file=sys.stderr)
        proc.kill()
        proc.wait()


class Stack:
    """The three processes of a local run, started in order and stopped in reverse."""

    def __init__(self, cfg: UpConfig) -> None:
        self.cfg = cfg
        self.data_dir = cfg.data_dir or default_data_dir()
        self.log_dir = self.data_dir / "logs"
        self.run_id = f"run-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}"
        self.sanctum: subprocess.Popen[bytes] | None = None
        self.trainer: subprocess.Popen[bytes] | None = None
        self.address = ""

    def start_sanctum(self, timeout: float = 60.0) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        port = free_port(self.cfg.port)
        if port != self.cfg.port:
            print(f"esper up: port {self.cfg.port} is busy; using {port}", file=sys.stderr)
        store = self.data_dir / "sanctum.sqlite"
        cmd = [sys.executable, "-m", "sanctum_svc", "serve",
               "--listen", f"127.0.0.1:{port}", "--store", str(store)]
        log = open(self.log_dir / "sanctum.log", "ab")  # noqa: SIM115 - owned by the child
        self.sanctum = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=log, start_new_session=True
        )
        ready = threading.Event()

        def pump() -> None:
            assert self.sanctum is not None and self.sanctum.stdout is not None
            for raw in self.sanctum.stdout:
                log.write(raw)
                log.flush()
                if raw.decode(errors="replace").startswith(LISTEN_LINE):
                    ready.set()

        threading.Thread(target=pump, daemon=True, name="sanctum-log").start()
        deadline = time.monotonic() + timeout
        while not ready.wait(0.2):
            if self.sanctum.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"sanctum did not start (see {self.log_dir / 'sanctum.log'})"
                )
        self.address = f"127.0.0.1:{port}"
        print(f"esper up: sanctum on {self.address}, store {store}", file=sys.stderr)

    def start_trainer(self) -> None:
        cfg = self.cfg
        cmd = [sys.executable, "-m", "trainer_svc", "--sanctum", self.address,
               "--run-id", self.run_id]
        for flag, value in (("--episodes", cfg.episodes), ("--envs", cfg.envs),
                            ("--seed", cfg.seed), ("--device", cfg.device)):
            if value is not None:
                cmd += [flag, str(value)]
        cmd += list(cfg.trainer_args)
        out = None if cfg.headless else open(self.log_dir / "trainer.log", "ab")  # noqa: SIM115
        self.trainer = subprocess.Popen(cmd, stdout=out, stderr=out, start_new_session=True)
        where = "" if cfg.headless else f" (log: {self.log_dir / 'trainer.log'})"
        print(f"esper up: training run {self.run_id}{where}", file=sys.stderr)

    def run_tui(self) -> int:
        cmd = [sys.executable, "-m", "tui_client", "--server", self.address, "--run", self.run_id]
        return subprocess.call(cmd)

    def wait_trainer(self) -> int:
        assert self.trainer is not None
        return self.trainer.wait()

    def stop(self) -> None:
        _stop(self.trainer, "trainer")
        _stop(self.sanctum, "sanctum")


def up(cfg: UpConfig) -> int:
    """Start everything, hand the terminal to the TUI (or wait headless), then stop all."""
    stack = Stack(cfg)

    def on_signal(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_signal)
    try:
        stack.start_sanctum()
        stack.start_trainer()
        if cfg.headless:
            return stack.wait_trainer()
        return stack.run_tui()
    except KeyboardInterrupt:
        print("\nesper up: stopping", file=sys.stderr)
        return 130
    except RuntimeError as err:
        print(f"esper up: {err}", file=sys.stderr)
        return 1
    finally:
        stack.stop()
        signal.signal(signal.SIGTERM, previous)
