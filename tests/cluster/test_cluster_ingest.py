"""Ingest through the cluster: a refused batch publishes nothing and leaves every replica
equal; a batch resent to the other replica (a producer after a fail-over) is stored once
(JetStream de-duplication) and applied once."""

from __future__ import annotations

import grpc
import pytest

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.sanctum.v2 import sanctum_pb2_grpc
from sanctum_svc.cluster.launch import NatsCluster
from testkit import free_port
from testkit.cluster import ClusterReplica, content
from testkit.servers import batches
from tests.cluster.test_failover import RUN, known_run
from tests.fault.helpers import scrape

pytestmark = pytest.mark.slow


def test_refusals_and_resends_keep_replicas_equal(nats_cluster: NatsCluster) -> None:
    metrics_port = free_port()
    a = ClusterReplica(nats_cluster.urls)
    b = ClusterReplica(nats_cluster.urls, extra_args=["--metrics-port", str(metrics_port)])
    a.start(30)
    b.start(30)
    events = known_run(9)
    requests = list(batches(events, size=32))
    try:
        with grpc.insecure_channel(a.address) as ca, grpc.insecure_channel(b.address) as cb:
            sa = sanctum_pb2_grpc.SanctumServiceStub(ca)
            sb = sanctum_pb2_grpc.SanctumServiceStub(cb)
            first = sa.Ingest(iter(requests[:3]), timeout=30)
            assert first.events_applied == sum(len(r.batch.events) for r in requests[:3])
            bad = spb.IngestRequest()
            bad.batch.CopyFrom(requests[3].batch)
            bad.batch.events[0].seq = 0  # seq starts at 1: the whole batch is refused
            with pytest.raises(grpc.RpcError) as err:
                sa.Ingest(iter([bad]), timeout=30)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            # The same batches again, through B: JetStream drops them as duplicates.
            again = sb.Ingest(iter(requests[:3]), timeout=30)
            assert again.events_applied == 0
            assert again.events_duplicate == first.events_applied
            rest = sb.Ingest(iter(requests[3:]), timeout=30)
            assert rest.events_applied == len(events) - first.events_applied
            sa.GetResumeCursor(spb.GetResumeCursorRequest(run_id=RUN), timeout=10)  # caught up
            snap_a = sa.GetSnapshot(spb.GetSnapshotRequest(run_id=RUN), timeout=10).snapshot
            snap_b = sb.GetSnapshot(spb.GetSnapshotRequest(run_id=RUN), timeout=10).snapshot
            sb.GetResumeCursor(spb.GetResumeCursorRequest(run_id=RUN), timeout=10)
        # One stream message per accepted batch; the refused one and the resends added none.
        assert scrape(metrics_port, "sanctum_cluster_applied_seq") == len(requests)
    finally:
        a.kill()
        b.kill()
    d = snap_b.delivery
    assert (d.events_applied, d.events_duplicate, d.gap_events) == (len(events), 0, 0)
    assert content(snap_a) == content(snap_b)


def test_each_nats_server_in_turn_down_replicas_keep_up(nats_cluster: NatsCluster) -> None:
    """Kill each NATS server in turn (one at a time, restarted before the next): whichever
    held a replica's consumer, the replica re-creates it and applies what was written
    through the other replica meanwhile."""
    a, b = ClusterReplica(nats_cluster.urls), ClusterReplica(nats_cluster.urls)
    a.start(30)
    b.start(30)
    events = known_run(13)
    requests = list(batches(events, size=16))
    chunks = [requests[: len(requests) // 3], requests[len(requests) // 3: 2 * len(requests) // 3],
              requests[2 * len(requests) // 3:]]
    try:
        for server, chunk in zip(nats_cluster.servers, chunks, strict=True):
            server.kill()
            with grpc.insecure_channel(a.address) as ca:
                reply = sanctum_pb2_grpc.SanctumServiceStub(ca).Ingest(iter(chunk), timeout=60)
            assert reply.events_applied == sum(len(r.batch.events) for r in chunk)
            with grpc.insecure_channel(b.address) as cb:
                sb = sanctum_pb2_grpc.SanctumServiceStub(cb)
                cursor = sb.GetResumeCursor(spb.GetResumeCursorRequest(run_id=RUN),
                                            timeout=30).cursors[0].last_seq
            assert cursor == chunk[-1].batch.events[-1].seq
            nats_cluster.restart(server)
        with grpc.insecure_channel(b.address) as cb:
            snap = sanctum_pb2_grpc.SanctumServiceStub(cb).GetSnapshot(
                spb.GetSnapshotRequest(run_id=RUN), timeout=10).snapshot
    finally:
        a.kill()
        b.kill()
    assert snap.delivery.events_applied == len(events) and snap.delivery.gap_events == 0
