"""A stream's batches reach JetStream in the order they were sent, even when the publish of
an earlier one is slow: stored out of order, batch N would be applied as a duplicate of the
newer seqs of N+1 and lost although acknowledged."""

from __future__ import annotations

import asyncio

import grpc

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.sanctum.v2 import sanctum_pb2_grpc
from esper.telemetry.v1 import telemetry_pb2 as tpb
from sanctum_svc.cluster.launch import NatsCluster
from sanctum_svc.config import ServerConfig
from sanctum_svc.server import SanctumServer
from testkit.servers import batches
from tests.cluster.test_failover import RUN, known_run


async def test_a_slow_first_publish_does_not_reorder_the_stream(
        nats_cluster: NatsCluster) -> None:
    server = SanctumServer(ServerConfig(listen="127.0.0.1:0", cluster=tuple(nats_cluster.urls)),
                           replay_progress=None)
    await server.start()
    try:
        assert server.cluster is not None
        log = server.cluster.events
        publish = log.publish
        calls = 0

        async def first_one_slow(batch: tpb.EventBatch, data: bytes):  # noqa: ANN202
            nonlocal calls
            calls += 1
            if calls == 1:  # a constructed fault: the first batch's publish stalls
                await asyncio.sleep(0.5)
            return await publish(batch, data)

        log.publish = first_one_slow  # type: ignore[method-assign]  # the injected fault
        events = known_run(17)
        requests = list(batches(events, size=16))
        async with grpc.aio.insecure_channel(server.address) as channel:
            stub = sanctum_pb2_grpc.SanctumServiceStub(channel)
            reply = await stub.Ingest(iter(requests), timeout=60)
            snap = (await stub.GetSnapshot(spb.GetSnapshotRequest(run_id=RUN))).snapshot
    finally:
        await server.stop(0)
    assert calls == len(requests)
    assert reply.events_applied == len(events) and reply.events_duplicate == 0
    assert snap.delivery.events_applied == len(events) and snap.delivery.gap_events == 0
