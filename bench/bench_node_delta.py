"""The Node client's watch on the wire: bytes per update with deltas (its default), with
`--full`, and with deltas and `--compressed` (not a test).

node_wire: a sanctum gets the original's 12-env mix (testkit.original_mix) in steps of
    STEP events (what a trainer at 2,000 events/s sends between two 10 Hz updates); after each
    step the Node client (clients/node, `watch`) has printed the new version before the next
    is sent. The client talks through a TCP relay that counts the bytes from the server
    (HTTP/2 and gRPC framing, heartbeats and pings included); per update = the bytes after
    the first snapshot / the updates after it. The reference is the full-snapshot watch of
    the same steps in the same run. Needs node and npm (`make -C clients/node build`).

    python -m bench [--quick] node_wire
"""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
import subprocess
import threading
from pathlib import Path

from bench import Row, register, row
from testkit import ThreadedSanctum
from testkit.original_mix import original_mix

NODE_DIR = Path(__file__).resolve().parents[1] / "clients" / "node"
STEP = 200
VERSION = re.compile(r"^run=\S+ v=(\d+) ")


class CountingRelay:
    """A loopback TCP relay to `target` counting the bytes that come back from it."""

    def __init__(self, target: str) -> None:
        host, port = target.rsplit(":", 1)
        self.target = (host, int(port))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.received = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            threading.Thread(target=self._pipe, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, True), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, count: bool) -> None:
        try:
            while data := src.recv(65536):
                if count:
                    with self.lock:
                        self.received += len(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.listener.close()


def watch_round(name: str, n_batches: int, *flags: str) -> tuple[float, int]:
    """(wire bytes per update after the first, updates after the first) for one watch."""
    events = original_mix(name, n_batches=n_batches)
    with ThreadedSanctum() as server:
        server.ingest(events[:STEP])
        relay = CountingRelay(server.address)
        proc = subprocess.Popen(
            ["node", "dist/cli.js", "--server", relay.address, "--run", name, *flags],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=NODE_DIR)
        out = proc.stdout
        assert out is not None
        try:
            def wait_version(version: int) -> None:
                for line in out:
                    m = VERSION.match(line)
                    if m and int(m[1]) >= version:
                        return
                raise RuntimeError(f"node watch ended: {proc.communicate()[1]}")

            wait_version(server.snapshot(name).version)
            with relay.lock:
                start = relay.received
            updates = 0
            for i in range(STEP, len(events), STEP):
                server.ingest(events[i:i + STEP])
                wait_version(server.snapshot(name).version)
                updates += 1
            with relay.lock:
                received = relay.received - start
        finally:
            proc.kill()
            proc.wait()
            relay.close()
    return received / updates, updates


@register("node_wire")
def bench_node_wire(quick: bool) -> list[Row]:
    if shutil.which("node") is None or shutil.which("npm") is None:
        return [row("Node watch bytes/update", "skipped", "", "node and npm are not installed")]
    subprocess.run(["make", "-s", "-C", str(NODE_DIR), "build"], check=True,
                   capture_output=True, timeout=600)
    n = 1 if quick else 2
    full, updates = watch_round("full", n, "--full")
    delta, _ = watch_round("delta", n)
    packed, _ = watch_round("packed", n, "--compressed")
    where = f"12 envs, original mix, {STEP} events/update, {updates} updates"
    return [
        row(f"Node watch wire bytes/update, deltas, {where}", delta, "bytes",
            f"--full {full:,.0f} bytes ({full / delta:.1f}x)", "", None),
        row(f"Node watch wire bytes/update, deltas + --compressed, {where}", packed, "bytes",
            f"--full {full:,.0f} bytes", "", None),
    ]
