"""A replica that starts late restores the newest checkpoint kept in the cluster and applies
only the stream after it; its state equals the replica that applied everything."""

from __future__ import annotations

import re
import time

import grpc
import pytest

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.sanctum.v2 import sanctum_pb2_grpc
from sanctum_svc.cluster.launch import NatsCluster
from testkit.cluster import ClusterReplica, content
from testkit.servers import batches
from tests.cluster.test_failover import RUN, known_run

pytestmark = pytest.mark.slow

CAUGHT_UP = re.compile(r"checkpoint at message (\d+), caught up to message (\d+)")


def stub(address: str) -> tuple[grpc.Channel, sanctum_pb2_grpc.SanctumServiceStub]:
    channel = grpc.insecure_channel(address)
    return channel, sanctum_pb2_grpc.SanctumServiceStub(channel)


def test_late_replica_restores_a_checkpoint_then_the_stream_after_it(
        nats_cluster: NatsCluster) -> None:
    events = known_run(11)
    every = ["--cluster-checkpoint-every", "5"]
    a = ClusterReplica(nats_cluster.urls, extra_args=every)
    a.start(30)
    late = ClusterReplica(nats_cluster.urls, extra_args=every)
    try:
        channel, sanctum = stub(a.address)
        with channel:
            requests = list(batches(events, size=10))
            reply = sanctum.Ingest(iter(requests), timeout=30)
            assert reply.events_applied == len(events)
            time.sleep(0.5)  # the last checkpoint write (asynchronous) lands
            expected = sanctum.GetSnapshot(spb.GetSnapshotRequest(run_id=RUN)).snapshot
        late.start(30)
        m = CAUGHT_UP.search("".join(late.output))
        assert m, late.output
        restored, last = map(int, m.groups())
        assert last == len(requests)
        assert 0 < restored <= last and restored % 5 == 0 and last - restored < 5, m.group(0)
        channel, sanctum = stub(late.address)
        with channel:
            got = sanctum.GetSnapshot(spb.GetSnapshotRequest(run_id=RUN)).snapshot
            cursor = sanctum.GetResumeCursor(spb.GetResumeCursorRequest(run_id=RUN)).cursors
        assert content(got) == content(expected)
        assert [(c.producer_id, c.last_seq) for c in cursor] == [("trainer-0", len(events))]
    finally:
        a.kill()
        late.kill()
