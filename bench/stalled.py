"""Memory held by subscribers that stop reading: a harness for the bench and the fault test.

A sanctum process holds a run whose snapshot is ~0.8 MB (200 event-log lines of 4 KB);
a producer keeps changing it; N watchers in another process (one connection each, as N
dashboards) read their first snapshot and then never read again. The server's RSS is
sampled before, while they are stalled, and after --stall-timeout dropped them, with the
watchers' process still alive and holding its connections open.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass

import grpc

from bench import rss_bytes
from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.sanctum.v2 import sanctum_pb2_grpc
from esper.telemetry.v1 import telemetry_pb2 as tpb
from testkit import SanctumProcess, batches, build_run_events, free_port
from tests.fault.helpers import scrape

RUN = "big"
WATCHERS = r"""
import sys, time, grpc
from esper.sanctum.v2 import sanctum_pb2 as spb, sanctum_pb2_grpc
address, run_id, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
calls = []
for _ in range(n):  # a connection each, like n dashboards on n machines
    ch = grpc.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])
    stub = sanctum_pb2_grpc.SanctumServiceStub(ch)
    calls.append((ch, stub.WatchSnapshots(spb.WatchSnapshotsRequest(run_id=run_id, max_hz=30))))
for _, call in calls:
    next(call)
print("ready", flush=True)
time.sleep(3600)  # never read again
"""


@dataclass
class StalledMemory:
    snapshot_bytes: int
    rss_before: int
    rss_stalled: int
    #: The lowest RSS within settle_s after the drop (freed memory returns as connections
    #: are torn down and the allocator trimmed, later on a loaded machine).
    rss_after: int
    dropped: int
    #: A watcher on its own connection that kept reading got snapshots after the drop.
    others_served: bool


def _checkpoint(seq: int, episode: int, fill: str) -> tpb.TelemetryEvent:
    return tpb.TelemetryEvent(
        run_id=RUN, producer_id="trainer-0", seq=seq, event_type=tpb.EVENT_TYPE_CHECKPOINT_LOADED,
        checkpoint_loaded=tpb.CheckpointLoadedPayload(path=fill * 4000, episode=episode))


def measure(n: int = 200, stall_timeout: float = 3.0, settle_s: float = 2.0) -> StalledMemory:
    metrics = free_port()
    with tempfile.TemporaryDirectory() as tmp, SanctumProcess(
            f"{tmp}/stalled.sqlite",
            extra_args=["--stall-timeout", str(stall_timeout), "--metrics-port", str(metrics)],
    ) as server, grpc.insecure_channel(server.address) as channel:
        assert server.proc is not None
        pid = server.proc.pid
        stub = sanctum_pb2_grpc.SanctumServiceStub(channel)
        events = build_run_events(RUN, n_batches=1, n_envs=4)
        seq = len(events) + 1
        events += [_checkpoint(seq + k, k, "c") for k in range(200)]
        seq += 200
        stub.Ingest(batches(events, 16), timeout=60)
        size = stub.GetSnapshot(spb.GetSnapshotRequest(run_id=RUN), timeout=30).snapshot.ByteSize()
        time.sleep(0.5)
        rss_before = rss_bytes(pid)
        stop = threading.Event()

        def produce() -> None:  # new versions keep coming: stalled streams fall behind
            k = seq
            while not stop.wait(0.05):
                stub.Ingest(batches([_checkpoint(k, k, "d")]), timeout=30)
                k += 1

        producer = threading.Thread(target=produce, daemon=True)
        producer.start()
        watchers = subprocess.Popen([sys.executable, "-c", WATCHERS, server.address, RUN, str(n)],
                                    stdout=subprocess.PIPE, text=True)
        # Opened once the watchers are in, and read from then on (unread, it would stall).
        reader_channel = grpc.insecure_channel(
            server.address, options=[("grpc.use_local_subchannel_pool", 1)])
        try:
            assert watchers.stdout is not None and watchers.stdout.readline().strip() == "ready"
            reader = sanctum_pb2_grpc.SanctumServiceStub(reader_channel).WatchSnapshots(
                spb.WatchSnapshotsRequest(run_id=RUN, max_hz=5))
            rss_stalled = rss_before
            deadline = time.monotonic() + 120
            while scrape(metrics, "sanctum_subscribers_stalled_total") < n:
                rss_stalled = max(rss_stalled, rss_bytes(pid))
                next(reader)  # the healthy watcher keeps reading
                if time.monotonic() > deadline:
                    raise TimeoutError("the stalled watchers were not dropped")
            dropped = int(scrape(metrics, "sanctum_subscribers_stalled_total"))
            end = time.monotonic() + settle_s
            served = 0
            rss_after = rss_bytes(pid)
            while time.monotonic() < end:  # the lowest RSS once the freed memory is returned
                served += next(reader).HasField("snapshot")
                rss_after = min(rss_after, rss_bytes(pid))
        finally:
            reader_channel.close()
            stop.set()
            producer.join(10)
            watchers.kill()
            watchers.wait(10)
            if watchers.stdout is not None:
                watchers.stdout.close()
    return StalledMemory(size, rss_before, rss_stalled, rss_after, dropped, served > 0)
