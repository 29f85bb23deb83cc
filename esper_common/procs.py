"""The processes `esper up` leaves running, recorded so `esper down` can stop exactly them.

`<data dir>/esper-up.json` lists the supervisor (`esper up` while it runs), sanctum and the
trainers, each by pid and the kernel's start time of that pid: a pid reused by an unrelated
process after ours ended is never signalled.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from esper_common import logs

STATE_FILE = "esper-up.json"
LOCK_FILE = "esper-up.lock"


def start_time(pid: int) -> str | None:
    """The kernel's start time of `pid` ('' where /proc is absent); None if it is not running
    (or a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        if not Path("/proc/self/stat").exists():  # no procfs: fall back to kill(0)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return None
            except PermissionError:
                return ""
            return ""
        return None
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):
        return None
    return fields[19]


@dataclass
class Proc:
    """One process we started: what it is, its pid and the start time that proves it."""

    name: str
    pid: int
    started: str
    run_id: str = ""

    @classmethod
    def of(cls, name: str, pid: int, run_id: str = "") -> Proc:
        return cls(name, pid, start_time(pid) or "", run_id)

    def alive(self) -> bool:
        now = start_time(self.pid)
        return now is not None and (now == self.started or not self.started)

    def signal(self, sig: int) -> bool:
        if not self.alive():
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, sig)
        return True


@dataclass
class State:
    """What runs from one data directory."""

    address: str = ""
    store: str = ""
    log_dir: str = ""
    sanctum: Proc | None = None
    trainers: list[Proc] = field(default_factory=list)
    supervisor: Proc | None = None

    @classmethod
    def load(cls, data_dir: Path) -> State:
        try:
            raw = json.loads((data_dir / STATE_FILE).read_text())
        except (OSError, ValueError):
            return cls()

        def proc(d: dict[str, object] | None) -> Proc | None:
            return Proc(**d) if isinstance(d, dict) else None  # type: ignore[arg-type]  # fields checked by Proc

        return cls(address=str(raw.get("address", "")), store=str(raw.get("store", "")),
                   log_dir=str(raw.get("log_dir", "")), sanctum=proc(raw.get("sanctum")),
                   trainers=[p for p in map(proc, raw.get("trainers", [])) if p],
                   supervisor=proc(raw.get("supervisor")))

    def save(self, data_dir: Path) -> None:
        tmp = data_dir / (STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1) + "\n")
        tmp.replace(data_dir / STATE_FILE)

    def live(self) -> State:
        """The same state without the processes that have ended."""
        return State(self.address, self.store, self.log_dir,
                     self.sanctum if self.sanctum and self.sanctum.alive() else None,
                     [t for t in self.trainers if t.alive()],
                     self.supervisor if self.supervisor and self.supervisor.alive() else None)

    def procs(self) -> list[Proc]:
        """Everything in stop order: the supervisor, trainers, then sanctum."""
        return [p for p in (self.supervisor, *self.trainers, self.sanctum) if p is not None]


@contextlib.contextmanager
def locked(data_dir: Path) -> Iterator[None]:
    """Hold the data directory's lock (two `esper up`/`down` never interleave)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / LOCK_FILE, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def stop(proc: Proc, timeout: float, say: bool = True) -> None:
    """SIGTERM, wait up to `timeout`, then SIGKILL: never leave it behind."""
    if not proc.signal(signal.SIGTERM):
        return
    deadline = time.monotonic() + timeout
    while proc.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    if proc.alive():
        if say:
            logs.status("killed", f"esper: {proc.name} (pid {proc.pid}) did not stop in "
                        f"{timeout:.0f}s; killing it", level="warning", process=proc.name,
                        pid=proc.pid)
        proc.signal(signal.SIGKILL)
        while proc.alive() and time.monotonic() < deadline + 5:
            time.sleep(0.05)
