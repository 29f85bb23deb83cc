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
