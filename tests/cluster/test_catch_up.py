"""A replica that starts late restores the newest checkpoint kept in the cluster and applies
only the stream after it; its state equals the replica that applied everything."""

from __future__ import annotations

import asyncio
import re
import time

import grpc
import nats
import pytest
from nats.js.errors import NotFoundError

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.sanctum.v2 import sanctum_pb2_grpc
from sanctum_svc.cluster import checkpoints
from sanctum_svc.cluster.launch import NatsCluster
from testkit import wait_for
from testkit.cluster import ClusterReplica, content
from testkit.servers import batches
from tests.cluster.test_failover import RUN, known_run

pytestmark = pytest.mark.slow

CAUGHT_UP = re.compile(r"checkpoint at message (\d+), caught up to message (\d+)")


def stub(address: str) -> tuple[grpc.Channel, sanctum_pb2_grpc.SanctumServiceStub]:
    channel = grpc.insecure_channel(address)
    return channel, sanctum_pb2_grpc.SanctumServiceStub(channel)


def checkpoints_held(urls: list[str]) -> list[int]:
    """The stream sequences of the checkpoints the cluster holds now, read from its store
    (none while the bucket is missing, or too new to answer yet)."""
    async def read() -> list[int]:
        nc = await nats.connect(urls)
        try:
            store = await nc.jetstream().object_store(checkpoints.BUCKET)
            infos = await store.list(ignore_deletes=True)
        except (NotFoundError, nats.errors.TimeoutError):
            return []
        finally:
            await nc.close()
        return sorted(s for i in infos if (s := checkpoints.seq_of(i.name)) is not None)
    return asyncio.run(read())


def wait_for_checkpoint(urls: list[str], seq: int, writer: ClusterReplica,
                        timeout: float = 30.0) -> None:
    """Checkpoint writes are asynchronous (and slow on a loaded machine): wait for `seq`."""
    deadline = time.monotonic() + timeout
    while seq not in (held := checkpoints_held(urls)):
        assert time.monotonic() < deadline, (
            f"checkpoint {seq} not written; held {held}; the writer said:\n"
            + "".join(writer.output))
        time.sleep(0.1)


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
            wait_for_checkpoint(nats_cluster.urls, len(requests) - len(requests) % 5, a)
            expected = sanctum.GetSnapshot(spb.GetSnapshotRequest(run_id=RUN)).snapshot
        late.start(30)
        m = CAUGHT_UP.search("".join(late.output))
        assert m, late.output
        output = "".join(late.output)
        restored, last = map(int, m.groups())
        assert last == len(requests)
        assert 0 < restored <= last and restored % 5 == 0 and last - restored < 5, output
        channel, sanctum = stub(late.address)
        with channel:
            got = sanctum.GetSnapshot(spb.GetSnapshotRequest(run_id=RUN)).snapshot
            cursor = sanctum.GetResumeCursor(spb.GetResumeCursorRequest(run_id=RUN)).cursors
        assert content(got) == content(expected)
        assert [(c.producer_id, c.last_seq) for c in cursor] == [("trainer-0", len(events))]
    finally:
        a.kill()
        late.kill()


def blocking_stream(urls: list[str], present: bool) -> None:
    """Add (or delete) a stream that owns the checkpoint bucket's subjects, so creating the
    bucket fails as it does while the cluster cannot place it."""
    async def run() -> None:
        nc = await nats.connect(urls)
        try:
            js = nc.jetstream(timeout=5)
            deadline = time.monotonic() + 30
            while True:  # a new cluster answers JetStream calls once it has a leader
                try:
                    if present:
                        await js.add_stream(name="BLOCKS_CHECKPOINTS", subjects=[
                            f"$O.{checkpoints.BUCKET}.>"])
                    else:
                        await js.delete_stream("BLOCKS_CHECKPOINTS")
                    return
                except nats.errors.TimeoutError:
                    assert time.monotonic() < deadline, "JetStream did not answer in 30 s"
        finally:
            await nc.close()
    asyncio.run(run())


def test_checkpoints_start_once_the_store_opens_after_a_failed_start(
        nats_cluster: NatsCluster) -> None:
    """A replica that could not open the checkpoint store when it started (it catches up
    from the stream instead) opens it later, and a checkpoint it failed to write is written
    once the store works, with no newer message to trigger one."""
    events = known_run(12)
    requests = list(batches(events, size=10))
    assert len(requests) >= 10
    blocking_stream(nats_cluster.urls, True)
    a = ClusterReplica(nats_cluster.urls, extra_args=["--cluster-checkpoint-every", "5"])
    a.start(30)
    try:
        assert "cluster checkpoints unavailable" in "".join(a.output), a.output
        channel, sanctum = stub(a.address)
        with channel:
            assert sanctum.Ingest(iter(requests[:10]), timeout=30).events_applied > 0
        wait_for(lambda: "checkpoint at message 10 not written" in "".join(a.output),
                 what="the failed write of the checkpoint at message 10")
        blocking_stream(nats_cluster.urls, False)
        wait_for_checkpoint(nats_cluster.urls, 10, a)
    finally:
        a.kill()
