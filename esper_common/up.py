"""`esper up`: a local sanctum (embedded store), a training run streaming into it, and the TUI.

Each part is its own process, as it would be on separate machines. Sanctum binds the port
asked for (port 0 if that one is busy) and writes the address it got to a file; it is ready
when gRPC health says SERVING. Sanctum and the trainer run in their own sessions with their
logs under `<data dir>/logs`, and `<data dir>/esper-up.json` records them: quitting the TUI
leaves them running (`esper-tui --server ...` reattaches, `esper up` again too), `esper down`
or Ctrl-C twice stops everything. Headless (no terminal, or --headless) `esper up` stays in
the foreground and stops what it started when training ends, on Ctrl-C or on SIGTERM.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from esper_common import logs
from esper_common.procs import Proc, State, locked, stop

#: Seconds after a Ctrl-C quit of the TUI in which a second Ctrl-C stops everything.
SECOND_CTRL_C_S = 3.0
SANCTUM_BIND_TIMEOUT_S = 60.0
SANCTUM_READY_TIMEOUT_S = 600.0


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
    detach: bool = False
    stop_on_quit: bool = False
    log_level: str | None = None
    log_format: str | None = None
    trainer_args: tuple[str, ...] = ()


def default_data_dir() -> Path:
    """$XDG_DATA_HOME/esper, else ~/.local/share/esper."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "esper"


def command(name: str) -> str:
    """How the user can type an installed command: its name when PATH finds this one, else
    its path (relative to the working directory when under it)."""
    path = Path(sys.executable).with_name(name)
    found = shutil.which(name)
    if found and Path(found).resolve() == path.resolve():
        return name
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _tail(path: Path, offset: int) -> str:
    """The last non-empty line written to `path` after `offset`."""
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            lines = fh.read().decode(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1].strip() if lines else ""


def health(address: str, timeout: float = 1.0) -> str:
    """sanctum's gRPC health status at `address` ('UNAVAILABLE' when it does not answer)."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(address) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=timeout)
        except grpc.RpcError as err:
            return err.code().name
    return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)


def run_ended(address: str, run_id: str) -> bool:
    """Whether sanctum has the run as ended (COMPLETED, STOPPED or FAILED)."""
    import grpc

    from esper.sanctum.v2 import sanctum_pb2 as spb
    from esper.sanctum.v2.sanctum_pb2_grpc import SanctumServiceStub
    from esper_common.derived import FINISHED

    with grpc.insecure_channel(address) as channel:
        try:
            snap = SanctumServiceStub(channel).GetSnapshot(
                spb.GetSnapshotRequest(run_id=run_id), timeout=2).snapshot
        except grpc.RpcError:
            return False
    return snap.run.status in FINISHED


class Stack:
    """The processes of one data directory: started in order, recorded, stopped in reverse."""

    def __init__(self, cfg: UpConfig) -> None:
        self.cfg = cfg
        self.data_dir = cfg.data_dir or default_data_dir()
        self.log_dir = self.data_dir / "logs"
        self.state = State.load(self.data_dir).live()
        self.run_id = f"run-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}"
        self.children: list[subprocess.Popen[bytes]] = []
        self.trainer: subprocess.Popen[bytes] | None = None
        self.tui: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return self.state.address

    def save(self) -> None:
        self.state.save(self.data_dir)

    def _log_flags(self) -> list[str]:
        flags = []
        if self.cfg.log_level:
            flags += ["--log-level", self.cfg.log_level]
        if self.cfg.log_format:
            flags += ["--log-format", self.cfg.log_format]
        return flags

    def _spawn(self, cmd: list[str], log: IO[bytes] | None) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True)
        self.children.append(proc)
        return proc

    def start_sanctum(self) -> None:
        """Start sanctum on the asked port, or port 0 if it cannot have it; wait for SERVING."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / "sanctum.log"
        store = self.data_dir / "sanctum.sqlite"
        address_file = self.log_dir / "sanctum.address"
        for port in dict.fromkeys((self.cfg.port, 0)):
            address_file.unlink(missing_ok=True)
            offset = log_path.stat().st_size if log_path.exists() else 0
            with open(log_path, "ab") as log:
                proc = self._spawn([sys.executable, "-m", "sanctum_svc", "serve",
                                    "--listen", f"127.0.0.1:{port}", "--store", str(store),
                                    "--address-file", str(address_file), *self._log_flags()],
                                   log)
            address = self._wait_address(proc, address_file)
            if address:
                break
            why = _tail(log_path, offset) or f"exit status {proc.returncode}"
            if port == 0:
                raise RuntimeError(f"sanctum did not start: {why} (log: {log_path})")
            logs.status("port_busy", f"esper up: sanctum cannot listen on port {port} ({why}); "
                        "using a free port instead", level="warning", port=port, reason=why)
        self.state = State(address=address, store=str(store), log_dir=str(self.log_dir),
                           sanctum=Proc.of("sanctum", proc.pid),
                           supervisor=Proc.of("esper up", os.getpid()))
        self.save()
        self._wait_serving(proc, log_path)
        logs.status("sanctum_started", f"esper up: sanctum on {address}, store {store}",
                    address=address, store=str(store))

    def _wait_address(self, proc: subprocess.Popen[bytes], path: Path) -> str:
        deadline = time.monotonic() + SANCTUM_BIND_TIMEOUT_S
        while time.monotonic() < deadline:
            if path.is_file() and (text := path.read_text().strip()):
                return text
            if proc.poll() is not None:
                return ""
            time.sleep(0.05)
        stop(Proc.of("sanctum", proc.pid), 10)
        return ""

    def _wait_serving(self, proc: subprocess.Popen[bytes], log_path: Path) -> None:
        """Poll gRPC health until SERVING (NOT_SERVING while the store is replayed)."""
        started = time.monotonic()
        said = False
        while (status := health(self.address)) != "SERVING":
            if proc.poll() is not None:
                raise RuntimeError(f"sanctum exited: {_tail(log_path, 0)} (log: {log_path})")
            waited = time.monotonic() - started
            if waited > SANCTUM_READY_TIMEOUT_S:
                raise RuntimeError(f"sanctum not ready after {waited:.0f}s ({status}); "
                                   f"see {log_path}")
            if waited > 2 and not said:
                logs.status("sanctum_waiting",
                            f"esper up: waiting for sanctum ({status}: replaying its store?)",
                            health=status)
                said = True
            time.sleep(0.1)

    def start_trainer(self) -> None:
        cfg = self.cfg
        cmd = [sys.executable, "-m", "trainer_svc", "--sanctum", self.address,
               "--run-id", self.run_id, *self._log_flags()]
        for flag, value in (("--episodes", cfg.episodes), ("--envs", cfg.envs),
                            ("--seed", cfg.seed), ("--device", cfg.device)):
            if value is not None:
                cmd += [flag, str(value)]
        cmd += list(cfg.trainer_args)
        log_path = self.log_dir / "trainer.log"
        if cfg.headless:
            self.trainer = self._spawn(cmd, None)
        else:
            with open(log_path, "ab") as log:
                self.trainer = self._spawn(cmd, log)
        self.state.trainers.append(Proc.of("trainer", self.trainer.pid, self.run_id))
        self.save()
        where = "" if cfg.headless else f" (log: {log_path})"
        logs.status("trainer_started", f"esper up: training run {self.run_id}{where}",
                    run_id=self.run_id, log=None if cfg.headless else str(log_path))

    def run_tui(self) -> int:
        cmd = [sys.executable, "-m", "tui_client", "--server", self.address, "--run",
               self.run_id]
        self.tui = subprocess.Popen(cmd)
        return self.tui.wait()

    def stop_all(self) -> None:
        """Stop the TUI, then every process of this data directory, and forget them."""
        if self.tui is not None and self.tui.poll() is None:
            self.tui.terminate()
            try:
                self.tui.wait(10)
            except subprocess.TimeoutExpired:
                self.tui.kill()
        for proc in self.state.procs():
            if proc.pid != os.getpid():
                stop(proc, 30 if proc.name == "trainer" else 15)
        for child in self.children:  # reap them
            if child.poll() is None:
                child.kill()
            child.wait()
        (self.data_dir / "esper-up.json").unlink(missing_ok=True)

    def release(self) -> None:
        """Leave what runs running: drop only this `esper up` from the record."""
        with locked(self.data_dir):
            self.state = State.load(self.data_dir)
            self.state.supervisor = None
            self.save()

    def detach(self, closed: bool = True) -> None:
        """Leave sanctum and training running, and say how to come back or stop them."""
        self.release()
        runs = [t.run_id for t in self.state.live().trainers]
        if runs:
            what = (f"run{'s' if len(runs) > 1 else ''} {', '.join(runs)} "
                    f"keep{'' if len(runs) > 1 else 's'} training")
        else:
            what = f"run {self.run_id} has finished; sanctum keeps serving it"
        head = "the dashboard closed; " if closed else ""
        under_make = bool(os.environ.get("MAKELEVEL"))
        again = "make run" if under_make else f"{command('esper')} up"
        down = f"{command('esper')} down" + ("   (or: make down)" if under_make else "")
        logs.status("detached",
                    f"{chr(10) if closed else ''}esper up: {head}{what} in the background "
                    f"(sanctum on {self.address}).\n"
                    f"  watch:     {command('esper-tui')} --server {self.address} --run "
                    f"{self.run_id}   (or: {again})\n"
                    f"  stop all:  {down}\n"
                    f"  logs:      {self.log_dir}/", address=self.address, runs=runs,
                    run_id=self.run_id, log_dir=str(self.log_dir))


class _Interrupted(Exception):
    """SIGINT/SIGTERM/SIGHUP reached `esper up`."""


def _raise(signum: int, _frame: object) -> None:
    raise _Interrupted(signal.Signals(signum).name)


def up(cfg: UpConfig) -> int:
    """Start (or rejoin) the stack, then hand the terminal to the TUI or wait headless."""
    stack = Stack(cfg)
    previous = {s: signal.signal(s, _raise) for s in (signal.SIGINT, signal.SIGTERM,
                                                      signal.SIGHUP)}
    started_here = False
    try:
        with locked(stack.data_dir):
            stack.state = State.load(stack.data_dir).live()
            if stack.state.sanctum is None:
                stack.start_sanctum()
                started_here = True
            else:
                logs.status("sanctum_running", f"esper up: sanctum already running on "
                            f"{stack.address} (from {stack.data_dir})", address=stack.address,
                            data_dir=str(stack.data_dir))
                stack.state.supervisor = Proc.of("esper up", os.getpid())
            running = stack.state.trainers
            if running and not (cfg.headless or cfg.detach):
                stack.run_id = running[-1].run_id
                logs.status("run_running", f"esper up: run {stack.run_id} is still training; "
                            f"showing it (to start another, `{command('esper')} down` first)",
                            run_id=stack.run_id)
            else:
                stack.start_trainer()
            stack.save()
        if cfg.detach:
            stack.detach(closed=False)
            return 0
        if cfg.headless:
            assert stack.trainer is not None
            rc = stack.trainer.wait()
            if started_here:
                stack.stop_all()
            else:
                stack.release()
            return rc
        return _interactive(stack)
    except _Interrupted:
        logs.status("stopping", "\nesper up: stopping")
        _abort(stack, started_here)
        return 130
    except (RuntimeError, OSError) as err:
        logs.status("error", f"esper up: {err}", level="error")
        _abort(stack, started_here)
        return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _abort(stack: Stack, started_here: bool) -> None:
    """Stop what this `esper up` started: everything, or only its trainer when it joined a
    sanctum that was already running."""
    if started_here:
        stack.stop_all()
        return
    if stack.tui is not None and stack.tui.poll() is None:
        stack.tui.terminate()
        stack.tui.wait()
    if stack.trainer is not None:
        stop(Proc.of("trainer", stack.trainer.pid), 30)
    stack.release()


def _interactive(stack: Stack) -> int:
    """The TUI in the foreground. When it ends, training that still runs is left running
    (a Ctrl-C quit gives a moment for a second Ctrl-C, which stops everything); with no
    training left, nothing needs sanctum up and everything stops."""
    rc = stack.run_tui()
    if stack.cfg.stop_on_quit:
        stack.stop_all()
        return rc
    if run_ended(stack.address, stack.run_id):  # its trainer is exiting: let it
        deadline = time.monotonic() + 15
        while State.load(stack.data_dir).live().trainers and time.monotonic() < deadline:
            time.sleep(0.1)
    if not State.load(stack.data_dir).live().trainers:
        logs.status("finished", f"esper up: run {stack.run_id} has finished, so sanctum stops "
                    f"too (its store keeps every run; `{command('esper')} up` starts it again)",
                    run_id=stack.run_id)
        stack.stop_all()
        return 0
    if rc == 130:  # the TUI was quit with Ctrl-C: a second one stops everything
        logs.status("second_ctrl_c", f"esper up: press Ctrl-C again within "
                    f"{SECOND_CTRL_C_S:.0f} s to stop sanctum and training too")
        try:
            time.sleep(SECOND_CTRL_C_S)
        except _Interrupted:
            logs.status("stopping", "esper up: stopping everything")
            stack.stop_all()
            return 130
    stack.detach()
    return 0
