"""Floods of idle connections and unauthenticated streams do not lock anyone out.

A sanctum subprocess runs under a low RLIMIT_NOFILE; 1,100 TCP connections are opened to
it and left idle (some never speak, some send the HTTP/2 preface and SETTINGS and then
nothing), as an attacker or a leaking client would. A legitimate client and a health check
must still be answered. Health watches (no token needed) and WatchSnapshots subscribers are
capped, while health Check keeps answering.
"""

from __future__ import annotations

import contextlib
import resource
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.sanctum.v2 import sanctum_pb2_grpc
from testkit import ThreadedSanctum, build_run_events, wait_until
from tests.fault.helpers import fd_count

pytestmark = pytest.mark.fault

TOKEN = "s3cret"
FLOOD = 1100
#: HTTP/2 client preface and an empty SETTINGS frame: a connection that is "up" but idle.
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"

CHILD = r"""
import asyncio, resource, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[1]), int(sys.argv[2])))
from sanctum_svc.config import ServerConfig
from sanctum_svc.server import serve
config = ServerConfig(listen="127.0.0.1:0", token=sys.argv[3],
                      handshake_timeout_s=float(sys.argv[4]), idle_timeout_s=float(sys.argv[5]))
asyncio.run(serve(config, ready=lambda s: print("listening", s.port, flush=True)))
"""


@contextlib.contextmanager
def sanctum_child(soft: int, hard: int, handshake_s: float = 10.0, idle_s: float = 300.0
                  ) -> Iterator[tuple[int, str]]:
    """(pid, address) of a sanctum process started under RLIMIT_NOFILE (soft, hard)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(soft), str(hard), TOKEN, str(handshake_s), str(idle_s)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("listening"), line + proc.stdout.read()
        threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep the pipe drained
        yield proc.pid, f"127.0.0.1:{line.split()[1]}"
    finally:
        proc.kill()
        proc.wait(10)


@pytest.fixture
def many_fds() -> None:
    """This test process holds the flood's client ends: it needs FLOOD + spare fds."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 2 * FLOOD + 512
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            pytest.skip(f"needs {need} open files in the test process, hard limit {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))


def flood(address: str, n: int = FLOOD) -> list[socket.socket]:
    """n idle connections: half send nothing, half an HTTP/2 preface and SETTINGS."""
    host, port = address.rsplit(":", 1)
    socks = []
    for i in range(n):
        s = socket.socket()
        s.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            s.connect((host, int(port)))
        socks.append(s)
        if i % 2:
            with contextlib.suppress(OSError):
                s.setblocking(True)
                s.settimeout(0.2)
                s.sendall(PREFACE)
    return socks


def legitimate_calls(address: str, deadline_s: float) -> tuple[int, spb.ListRunsResponse]:
    """A health Check (no token) and a ListRuns with the token, each on a fresh channel,
    waiting for the server up to `deadline_s`."""
    with grpc.insecure_channel(address) as ch:
        health = health_pb2_grpc.HealthStub(ch).Check(
            health_pb2.HealthCheckRequest(), timeout=deadline_s, wait_for_ready=True)
    with grpc.insecure_channel(address) as ch:
        runs = sanctum_pb2_grpc.SanctumServiceStub(ch).ListRuns(
            spb.ListRunsRequest(), metadata=(("authorization", f"Bearer {TOKEN}"),),
            timeout=deadline_s, wait_for_ready=True)
    return health.status, runs


def soft_fd_limit(pid: int) -> int:
    with open(f"/proc/{pid}/limits") as fh:
        for line in fh:
            if line.startswith("Max open files"):
                return int(line.split()[3])
    raise RuntimeError("no open-file limit")


def test_idle_flood_under_a_raisable_fd_limit(many_fds: None) -> None:
    """Soft limit 1,024 with a hard limit of 4,096: sanctum raises its own soft limit, so
    1,100 idle connections leave room, and legitimate calls are answered at once."""
    with sanctum_child(1024, 4096) as (pid, address):
        assert soft_fd_limit(pid) == 4096
        socks = flood(address)
        try:
            accepted = wait_until(lambda: fd_count(pid), lambda n: n > FLOOD)
            assert accepted > FLOOD, "the server did not accept the whole flood"
            status, runs = legitimate_calls(address, deadline_s=30)
            assert status == health_pb2.HealthCheckResponse.SERVING and runs.total_size == 0
        finally:
            for s in socks:
                s.close()


def test_idle_flood_under_a_fixed_fd_limit(many_fds: None) -> None:
    """Soft = hard = 1,024: sanctum accepts at most 1,024 - 64 connections (descriptors stay
    free for the store), and drops the idle ones after the handshake / idle timeouts (2 s
    here): legitimate calls get through while the flood's sockets are still open."""
    with sanctum_child(1024, 1024, handshake_s=2.0, idle_s=2.0) as (pid, address):
        socks = flood(address)
        try:
            time.sleep(0.5)
            assert fd_count(pid) <= 1024 - 64 + 40
            started = time.monotonic()
            status, _ = legitimate_calls(address, deadline_s=20)
            waited = time.monotonic() - started
            assert status == health_pb2.HealthCheckResponse.SERVING
            print(f"\nlegitimate calls answered {waited:.1f} s into a flood of {FLOOD}")
            # The idle ones are gone although their peers hold on.
            assert wait_until(lambda: fd_count(pid), lambda n: n < 200) < 200
        finally:
            for s in socks:
                s.close()


def test_unauthenticated_health_watches_are_capped() -> None:
    with ThreadedSanctum(token=TOKEN, max_health_watches=64) as server, \
            grpc.insecure_channel(server.address) as ch:
        health = health_pb2_grpc.HealthStub(ch)
        held, refused = [], 0
        for _ in range(1000):
            call = health.Watch(health_pb2.HealthCheckRequest(), timeout=30)
            try:
                first = next(call)
                assert first.status == health_pb2.HealthCheckResponse.SERVING
                held.append(call)
            except grpc.RpcError as err:
                assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err
                refused += 1
        assert (len(held), refused) == (64, 936)
        # Check is not limited, and the token holders are served as before.
        assert health.Check(health_pb2.HealthCheckRequest(), timeout=5).status == (
            health_pb2.HealthCheckResponse.SERVING)
        server.ingest(build_run_events("run-h", n_batches=1))
        assert server.snapshot("run-h").run_id == "run-h"
        for call in held[:10]:
            call.cancel()
        deadline = time.monotonic() + 10
        while server.server is not None and server.server.health.watching > 54:
            assert time.monotonic() < deadline, "cancelled watches still counted"
            time.sleep(0.05)
        again = health.Watch(health_pb2.HealthCheckRequest(), timeout=30)
        assert next(again).status == health_pb2.HealthCheckResponse.SERVING
        for call in (*held, again):
            call.cancel()


def test_watch_snapshots_subscribers_are_capped() -> None:
    with ThreadedSanctum(max_subscribers=3) as server:
        server.ingest(build_run_events("run-s", n_batches=1))
        with server.channel(subscriber=True) as ch:
            stub = server.stub(ch)
            calls = [stub.WatchSnapshots(spb.WatchSnapshotsRequest(run_id="run-s"))
                     for _ in range(3)]
            for call in calls:
                assert next(call).HasField("snapshot")
            extra = stub.WatchSnapshots(spb.WatchSnapshotsRequest(run_id="run-s"))
            with pytest.raises(grpc.RpcError) as err:
                next(extra)
            assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "3 WatchSnapshots subscribers" in (err.value.details() or "")
            calls[0].cancel()
            deadline = time.monotonic() + 10
            while server.server is not None and server.server.fanout.subscriber_count > 2:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            again = stub.WatchSnapshots(spb.WatchSnapshotsRequest(run_id="run-s"))
            assert next(again).HasField("snapshot")
            for call in (*calls, again):
                call.cancel()


def test_fd_soft_limit_is_raised_in_process() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    lowered = min(soft, 512)
    resource.setrlimit(resource.RLIMIT_NOFILE, (lowered, hard))
    try:
        with ThreadedSanctum():
            now, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        assert now == hard or (hard == resource.RLIM_INFINITY and now > lowered)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
