"""Cluster-mode test support: sanctum replicas (subprocesses) following a local NATS
JetStream cluster started by sanctum_svc.cluster.launch."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Sequence

import grpc

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.sanctum.v2 import sanctum_pb2_grpc
from testkit.servers import SanctumProcess
from testkit.snapshots import comparable


class ClusterReplica(SanctumProcess):
    """`esper-sanctum serve --cluster URLS` as a subprocess (kill -9 able)."""

    def __init__(self, nats_urls: Sequence[str], replicas: int = 3,
                 extra_args: Sequence[str] = ()) -> None:
        super().__init__(":memory:", extra_args=extra_args)
        self.nats_urls = list(nats_urls)
        self.replicas = replicas

    def command(self) -> list[str]:
        return [sys.executable, "-m", "sanctum_svc", "serve", "--listen", self.address,
                "--cluster", ",".join(self.nats_urls), "--cluster-replicas",
                str(self.replicas), *self.extra_args]


def content(snapshot: spb.SanctumSnapshot) -> spb.SanctumSnapshot:
    """What two replicas must agree on for the same events: everything but the time and
    version fields (comparable) and the wall-clock ages derived from them."""
    return comparable(snapshot)


class Viewer:
    """A WatchSnapshots subscriber on its own thread, keeping (arrival time, snapshot)."""

    def __init__(self, address: str, run_id: str, max_hz: float = 10.0) -> None:
        self.address = address
        self.run_id = run_id
        self.max_hz = max_hz
        self.seen: list[tuple[float, spb.SanctumSnapshot]] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._channel: grpc.Channel | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Viewer:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._channel = grpc.insecure_channel(self.address)
                stub = sanctum_pb2_grpc.SanctumServiceStub(self._channel)
                request = spb.WatchSnapshotsRequest(run_id=self.run_id, max_hz=self.max_hz)
                for resp in stub.WatchSnapshots(request):
                    if resp.HasField("snapshot"):
                        self.seen.append((time.monotonic(), resp.snapshot))
            except grpc.RpcError as err:
                self.errors.append(f"{err.code().name}: {err.details()}")
            finally:
                if self._channel is not None:
                    self._channel.close()
            self._stop.wait(0.2)

    def stop(self) -> None:
        self._stop.set()
        if self._channel is not None:
            self._channel.close()
        self._thread.join(5)
