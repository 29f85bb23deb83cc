"""Real sanctum servers for tests and benchmarks: in a thread (ThreadedSanctum) or as a
subprocess (SanctumProcess), with client conveniences over real channels.

    with ThreadedSanctum() as s:
        s.ingest(build_run_events("run-1"))
        snap = s.snapshot("run-1")
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Coroutine, Iterator, Sequence
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.sanctum.v2 import sanctum_pb2_grpc
from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_common.channel import ChannelConfig, sync_channel
from sanctum_svc.cli import listening_address
from sanctum_svc.config import ServerConfig
from sanctum_svc.server import SanctumServer

T = TypeVar("T")



def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (bind to 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def batches(events: Sequence[tpb.TelemetryEvent], size: int = 64,
            drops: Sequence[tpb.ProducerDrops] = ()) -> Iterator[spb.IngestRequest]:
    """IngestRequests of `size` events; drop reports ride on the last one."""
    for start in range(0, max(len(events), 1), size):
        req = spb.IngestRequest(batch=tpb.EventBatch(events=events[start:start + size]))
        if start + size >= len(events):
            req.batch.drops.extend(drops)
        yield req


class ThreadedSanctum:
    """A real sanctum server in a daemon thread with its own asyncio loop."""

    def __init__(self, *, store: str = ":memory:", token: str | None = None,
                 read_token: str | None = None, max_hz: float = 20.0, port: int = 0,
                 host: str = "127.0.0.1", **config_overrides: Any) -> None:
        config_overrides.setdefault("refusal_delay_s", 0.0)  # suites send many bad batches
        self.config = ServerConfig(listen=f"{host}:{port}", store=store, token=token,
                                   read_token=read_token, max_hz=max_hz, **config_overrides)
        self.config.check()
        self.server: SanctumServer | None = None
        self.address = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, timeout: float = 20.0) -> ThreadedSanctum:
        self._ready.clear()
        self._thread = threading.Thread(target=self._run, name="threaded-sanctum", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("sanctum did not start in time")
        if self._error is not None:
            raise self._error
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        self.server = SanctumServer(self.config, replay_progress=None)
        try:
            loop.run_until_complete(self.server.start())
            self.address = f"127.0.0.1:{self.server.port}" if self.config.host in (
                "127.0.0.1", "localhost", "0.0.0.0") else self.server.address
        except BaseException as exc:  # reported to the starting thread
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    def stop(self, grace: float = 1.0) -> None:
        if self._loop is None or self._thread is None or self.server is None:
            return
        if self._loop.is_running():
            with contextlib.suppress(Exception):
                self.call(self.server.stop(grace), timeout=grace + 15)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=15)
        self._thread = None

    def __enter__(self) -> ThreadedSanctum:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run a coroutine on the server's loop (for test hooks) and return its result."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def in_loop(self, fn: Any, *args: Any) -> Any:
        """Call a plain function on the server's loop thread (safe access to its state)."""

        async def wrapper() -> Any:
            return fn(*args)

        return self.call(wrapper())

    # -- client conveniences ----------------------------------------------------------------
    def channel_config(self, subscriber: bool = False, token: str | None = None) -> ChannelConfig:
        return ChannelConfig(self.address, token=token or self.config.token,
                             subscriber=subscriber)

    def channel(self, subscriber: bool = False, token: str | None = None) -> grpc.Channel:
        return sync_channel(self.channel_config(subscriber, token))

    def stub(self, channel: grpc.Channel) -> sanctum_pb2_grpc.SanctumServiceStub:
        return sanctum_pb2_grpc.SanctumServiceStub(channel)

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return self.channel_config().metadata()

    def ingest(self, events: Sequence[tpb.TelemetryEvent], batch_size: int = 64,
               drops: Sequence[tpb.ProducerDrops] = ()) -> spb.IngestResponse:
        """Stream `events` through Ingest in batches over a real channel."""
        with self.channel() as ch:
            return self.stub(ch).Ingest(batches(events, batch_size, drops),
                                        metadata=self.metadata, timeout=60)

    def snapshot(self, run_id: str = "") -> spb.SanctumSnapshot:
        with self.channel() as ch:
            return self.stub(ch).GetSnapshot(spb.GetSnapshotRequest(run_id=run_id),
                                             metadata=self.metadata, timeout=10).snapshot

    def cursor(self, run_id: str, producer_id: str = "") -> dict[str, int]:
        with self.channel() as ch:
            reply = self.stub(ch).GetResumeCursor(
                spb.GetResumeCursorRequest(run_id=run_id, producer_id=producer_id),
                metadata=self.metadata, timeout=10)
        return {c.producer_id: c.last_seq for c in reply.cursors}


class SanctumProcess:
    """`python -m sanctum_svc serve` as a subprocess, for kill -9 / restart tests.

    The port is picked once and kept across restarts, so clients reconnect to the same
    address.
    """

    def __init__(self, store: str, port: int | None = None,
                 extra_args: Sequence[str] = ()) -> None:
        self.store = store
        self.port = port or free_port()
        self.extra_args = list(extra_args)
        self.address = f"127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[str] | None = None
        self.output: list[str] = []

    def command(self) -> list[str]:
        return [sys.executable, "-m", "sanctum_svc", "serve", "--listen", self.address,
                "--store", self.store, *self.extra_args]

    def start(self, timeout: float = 15) -> None:
        """Start and wait for the listening line (the server is SERVING by then)."""
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(self.command(), stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, env=env)
        listening = threading.Event()
        pump = threading.Thread(target=self._pump, args=(self.proc, listening), daemon=True)
        pump.start()
        deadline = time.monotonic() + timeout
        while not listening.wait(0.1):
            if self.proc.poll() is not None:
                pump.join(10)  # it ends at the pipe's end: the last words are collected
                raise RuntimeError(f"sanctum exited with {self.proc.returncode}: "
                                   f"{''.join(self.output)}")
            if time.monotonic() > deadline:
                self.kill()
                raise TimeoutError(f"sanctum did not report listening in {timeout} s: "
                                   f"{''.join(self.output)}")

    def _pump(self, proc: subprocess.Popen[str], listening: threading.Event) -> None:
        """Collect the child's output; flag the listening line."""
        assert proc.stdout is not None
        with contextlib.suppress(ValueError, OSError):
            for line in proc.stdout:
                self.output.append(line)
                if listening_address(line):
                    listening.set()

    def health(self, timeout: float = 2.0) -> int:
        with grpc.insecure_channel(self.address) as ch:
            return health_pb2_grpc.HealthStub(ch).Check(
                health_pb2.HealthCheckRequest(), timeout=timeout).status

    def freeze(self) -> None:
        """SIGSTOP: the process holds its sockets open but answers nothing (a hung server;
        what a client sends waits unacknowledged in the kernel's buffers)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGSTOP)

    def kill(self) -> None:
        """SIGKILL: no shutdown path runs (a crash); also ends a frozen process."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def terminate(self, timeout: float = 10) -> int:
        """SIGTERM and wait; returns the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return int(self.proc.returncode)

    def __enter__(self) -> SanctumProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()
