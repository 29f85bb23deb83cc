"""`esper cluster up`: a local cluster in the foreground — 3 NATS JetStream servers and 2
sanctum replicas following them — until Ctrl-C (or SIGTERM), which stops all of it.

For trying cluster mode on one machine and for the tests; production clusters run each
NATS server and each replica on its own host (README, "Cluster mode").
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sanctum_svc.cli import listening_address
from sanctum_svc.cluster.launch import LaunchError, NatsCluster

READY_LINE = "esper cluster: ready"


def up(args: argparse.Namespace) -> int:
    """Run the cluster until a signal; exit status 2 on a start-up failure."""
    data = Path(args.data_dir).expanduser()
    nats = NatsCluster(data / "nats", size=3, first_port=args.nats_port)
    procs: list[subprocess.Popen[bytes]] = []
    stop = {"now": False}

    def on_signal(signum: int, frame: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        nats.start()
        urls = ",".join(nats.urls)
        addresses = []
        for i in range(args.replicas):
            port = args.port + i if args.port else 0
            log_path = data / f"sanctum-{i}.log"
            start = log_path.stat().st_size if log_path.exists() else 0
            with log_path.open("ab") as log:
                procs.append(subprocess.Popen(
                    [sys.executable, "-m", "sanctum_svc", "serve", "--listen",
                     f"127.0.0.1:{port}", "--cluster", urls],
                    stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ)))
            addresses.append(_wait_serving(log_path, start, procs[-1]))
    except LaunchError as exc:
        print(f"esper cluster up: {exc}", file=sys.stderr)
        _stop(procs, nats)
        return 2
    servers = ",".join(addresses)
    print(f"esper cluster: 3 NATS servers {urls} (JetStream R=3, data in {data / 'nats'})\n"
          f"esper cluster: {len(addresses)} sanctum replicas {servers} (logs in {data})\n"
          f"  train: esper-trainer --sanctum {servers}\n"
          f"  watch: esper-tui --server {servers}\n"
          f"{READY_LINE}; Ctrl-C stops everything", flush=True)
    reported: set[int] = set()
    while not stop["now"]:
        for i, p in enumerate(procs):
            if i not in reported and p.poll() is not None:
                reported.add(i)
                print(f"esper cluster: sanctum replica {i} exited ({p.returncode}); see "
                      f"{data / f'sanctum-{i}.log'}", file=sys.stderr, flush=True)
        time.sleep(0.2)
    print("esper cluster: stopping", flush=True)
    _stop(procs, nats)
    return 0


def _wait_serving(log: Path, start: int, proc: subprocess.Popen[bytes],
                  timeout: float = 60.0) -> str:
    """The replica's address once its log says it is listening (caught up, SERVING)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with log.open("rb") as fh:
            fh.seek(start)
            text = fh.read().decode(errors="replace")
        for line in text.splitlines():
            if address := listening_address(line):
                return address
        if proc.poll() is not None:
            raise LaunchError(f"a sanctum replica exited ({proc.returncode}): {text[-600:]}")
        time.sleep(0.1)
    raise LaunchError(f"a sanctum replica did not start in {timeout:g} s (see {log})")


def _stop(procs: list[subprocess.Popen[bytes]], nats: NatsCluster) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
    nats.stop()
