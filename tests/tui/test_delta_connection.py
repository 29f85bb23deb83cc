"""The TUI's connection applies deltas: the pilot app shows live data that arrived as
deltas and holds exactly the server's snapshot; a delta that does not apply (a server
that lost track, or a hostile one) makes it resubscribe for a full snapshot at once."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent import futures

import grpc

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.sanctum.v2 import sanctum_pb2_grpc
from esper_common.channel import ChannelConfig
from sanctum_svc.delta import build_delta
from testkit import ThreadedSanctum
from testkit.original_mix import original_mix
from tests.tui.helpers import screen_text, wait_for
from tests.tui.test_app_live import FAST, _options, culled_seed_events
from tui_client.app import EsperTui
from tui_client.connection import Subscription, watch
from tui_client.messages import ConnectionChanged, SnapshotReceived


async def test_pilot_renders_live_data_arriving_as_deltas() -> None:
    with ThreadedSanctum(heartbeat_s=0.2) as server:
        events = original_mix("run-d")
        await asyncio.to_thread(server.ingest, events[:200])
        app = EsperTui(_options(server, run="run-d"))
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: app.snapshot is not None, what="first snapshot")
            for i in range(200, len(events), 600):
                await asyncio.to_thread(server.ingest, events[i:i + 600])
                await pilot.pause(0.15)
            await asyncio.to_thread(server.ingest,
                                    culled_seed_events("run-d", len(events) + 1))
            await wait_for(pilot, lambda: "PRUNED lora" in screen_text(app), what="culled seed")
            fanout = server.server.fanout
            run = server.in_loop(fanout.aggregator.get, "run-d")
            latest = server.in_loop(fanout.current, run)
            await wait_for(pilot, lambda: app.snapshot.version == latest.version,
                           what="the latest version")
            assert app.snapshot.SerializeToString(deterministic=True) == \
                latest.snap.SerializeToString(deterministic=True)
        sent = fanout.metrics.registry.get_sample_value("sanctum_snapshot_deltas_total")
    assert sent is not None and sent >= 3, sent


class _Scripted(sanctum_pb2_grpc.SanctumServiceServicer):
    """Serves one scripted list of responses per WatchSnapshots call, then idles."""

    def __init__(self, scripts: list[list[spb.WatchSnapshotsResponse]]) -> None:
        self.scripts = scripts
        self.requests: list[spb.WatchSnapshotsRequest] = []
        self.stopped = threading.Event()

    def WatchSnapshots(self, request, context) -> Iterator[spb.WatchSnapshotsResponse]:  # noqa: N802, ANN001
        self.requests.append(request)
        yield from self.scripts[min(len(self.requests), len(self.scripts)) - 1]
        while not self.stopped.wait(0.05) and context.is_active():
            pass


def _snap(version: int, message: str) -> spb.SanctumSnapshot:
    snap = spb.SanctumSnapshot(run_id="r", version=version)
    snap.event_log.entries.add(message=message)
    return snap


async def test_a_delta_that_does_not_apply_brings_a_full_snapshot() -> None:
    v1, v2, v3 = _snap(1, "one"), _snap(2, "two"), _snap(3, "three")
    stale = build_delta(_snap(7, "seven"), _snap(8, "eight"))  # for a base never sent
    servicer = _Scripted([
        [spb.WatchSnapshotsResponse(snapshot=v1), spb.WatchSnapshotsResponse(delta=stale)],
        [spb.WatchSnapshotsResponse(snapshot=v2),
         spb.WatchSnapshotsResponse(delta=build_delta(v2, v3))],
    ])
    server = grpc.server(futures.ThreadPoolExecutor(4))
    sanctum_pb2_grpc.add_SanctumServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    posted: list[object] = []
    sub = Subscription(ChannelConfig(f"127.0.0.1:{port}"), run_id="r", backoff=FAST)
    task = asyncio.create_task(watch(sub, posted.append))
    try:
        deadline = time.monotonic() + 30
        while True:
            got = [m.snapshot for m in posted if isinstance(m, SnapshotReceived)]
            if len(got) >= 3 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.02)
    finally:
        task.cancel()
        servicer.stopped.set()
        server.stop(0).wait(5)
    assert [(s.version, s.event_log.entries[0].message) for s in got] == [
        (1, "one"), (2, "two"), (3, "three")]
    assert [r.incremental for r in servicer.requests] == [True, True]
    states = [m.state for m in posted if isinstance(m, ConnectionChanged)]
    assert states == ["connected"]  # resubscribed on the same connection, no disconnect shown
