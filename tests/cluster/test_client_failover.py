"""Clients given several replica addresses move to the next one when one fails, without
waiting out a backoff: the TUI's subscription and the producer's sink."""

from __future__ import annotations

import asyncio
import time

import pytest

from esper_client.sinks import GrpcSink, SinkError
from esper_common.channel import ChannelConfig, Failover, split_targets
from testkit import ThreadedSanctum, free_port
from tests.cluster.test_failover import RUN, known_run
from tui_client.connection import Backoff, Subscription, watch
from tui_client.messages import SnapshotReceived


def test_address_lists_parse_and_rotate() -> None:
    assert split_targets(" a:1, b:2 ,") == ["a:1", "b:2"]
    with pytest.raises(ValueError, match="no sanctum address"):
        split_targets(" , ")
    f = Failover(ChannelConfig("a:1,b:2,c:3", token="t"))
    assert f.current.target == "a:1" and f.current.token == "t"
    assert [f.failed(), f.current.target, f.failed(), f.current.target] == [
        False, "b:2", False, "c:3"]
    assert f.failed() and f.current.target == "a:1"  # a whole round failed: back off now
    f.failed()
    f.succeeded()
    assert not f.failed() and not f.failed() and f.failed()


async def test_tui_subscription_moves_to_the_next_replica() -> None:
    dead = f"127.0.0.1:{free_port()}"
    with ThreadedSanctum() as live:
        live.ingest(known_run(5))
        sub = Subscription(ChannelConfig(f"{dead},{live.address}", subscriber=True),
                           run_id=RUN, max_hz=10, backoff=Backoff(initial=30.0))
        posted: list[object] = []
        task = asyncio.create_task(watch(sub, posted.append))
        try:
            deadline = time.monotonic() + 20  # below the 30 s backoff
            while not any(isinstance(m, SnapshotReceived) for m in posted):
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.1)
        finally:
            task.cancel()
    snaps = [m for m in posted if isinstance(m, SnapshotReceived)]
    assert snaps and snaps[0].snapshot.run_id == RUN, posted


def test_producer_sink_fails_over_and_reads_the_cursor_there() -> None:
    dead = f"127.0.0.1:{free_port()}"
    events = known_run(6)
    with ThreadedSanctum() as live:
        live.ingest(events)
        sink = GrpcSink(f"{dead},{live.address}", None, None)
        try:
            with pytest.raises(SinkError) as err:
                sink.cursor(RUN, "trainer-0", timeout=2)
            assert err.value.kind == "transient"
            assert sink.reset() is True  # another replica is untried: retry at once
            assert sink.address == live.address
            assert sink.cursor(RUN, "trainer-0", timeout=5) == len(events)
            assert sink.reset() is False  # both tried this round: the sender backs off
        finally:
            sink.close()
