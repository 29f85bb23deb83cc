"""Incremental WatchSnapshots on a live sanctum: a subscriber applying deltas holds, at
every version, the snapshot a full subscriber gets; subscribers that did not ask (old
clients) get only full snapshots; a base the server no longer holds gets a full one; a
`compressed` stream is gzip on the wire and the same messages after."""

from __future__ import annotations

import asyncio
import contextlib
import time

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.sanctum.v2 import sanctum_pb2_grpc
from esper_common.channel import ChannelConfig, aio_channel
from esper_common.delta import apply_delta
from sanctum_svc.delta import build_delta
from testkit import ThreadedSanctum, wait_for
from testkit.original_mix import original_mix
from tests.sanctum.watch import Watcher


def _wire(snap: spb.SanctumSnapshot) -> bytes:
    return snap.SerializeToString(deterministic=True)


def _replay(watcher: Watcher) -> tuple[dict[int, bytes], int]:
    """The incremental subscriber's snapshot at each version it reached, and how many of
    its updates were deltas."""
    held: spb.SanctumSnapshot | None = None
    seen: dict[int, bytes] = {}
    deltas = 0
    for _, msg in list(watcher.messages):
        kind = msg.WhichOneof("kind")
        if kind == "snapshot":
            held = msg.snapshot
        elif kind == "delta":
            assert held is not None, "a delta before any full snapshot"
            held = apply_delta(held, msg.delta)
            deltas += 1
        else:
            continue
        seen[held.version] = _wire(held)
    return seen, deltas


def test_deltas_rebuild_what_full_subscribers_get() -> None:
    events = original_mix("mix", n_batches=1)
    with ThreadedSanctum() as server:
        server.ingest(events[:50])
        with Watcher(server, "mix", max_hz=30, incremental=True) as inc, \
                Watcher(server, "mix", max_hz=30) as full:
            for i in range(50, len(events), 150):  # ~25 updates while the mix streams
                server.ingest(events[i:i + 150])
                time.sleep(0.04)
            last = server.snapshot("mix").version
            assert inc.wait_for(lambda s: True, 10) is not None
            wait_for(lambda: last in _replay(inc)[0], what="the last version (deltas)")
            assert full.wait_for(lambda s: s.version == last, 30) is not None
            got, deltas = _replay(inc)
            fulls = {s.version: _wire(s) for s in full.snapshots()}
            kinds = {m.WhichOneof("kind") for _, m in full.messages}
    assert last in got and last in fulls
    assert deltas >= 5, deltas
    common = set(got) & set(fulls)
    assert len(common) >= 5, (sorted(got), sorted(fulls))
    assert all(got[v] == fulls[v] for v in common)
    assert "delta" not in kinds  # a subscriber that did not ask gets whole snapshots


def _timed_fulls(msgs: list[spb.WatchSnapshotsResponse]) -> tuple[int, int]:
    """(full snapshots after the first that a delta from the held snapshot would have beaten
    on size: sent for the interval; deltas). A full sent because the delta would not be
    smaller is the server's other reason, and is not counted."""
    held: spb.SanctumSnapshot | None = None
    timed = deltas = 0
    for msg in msgs:
        kind = msg.WhichOneof("kind")
        if kind == "snapshot":
            if held is not None:
                as_delta = spb.WatchSnapshotsResponse(delta=build_delta(held, msg.snapshot))
                timed += as_delta.ByteSize() < msg.ByteSize()
            held = msg.snapshot
        elif kind == "delta":
            assert held is not None, "a delta before any full snapshot"
            held = apply_delta(held, msg.delta)
            deltas += 1
    return timed, deltas


def _watch_with_full_every(every_s: float) -> tuple[int, int]:
    """`_timed_fulls` of an incremental subscriber while the mix streams for about 2 s with
    --full-snapshot-every `every_s`; it also checks that the subscriber's rebuilt snapshots
    equal a full subscriber's at every version both saw."""
    events = original_mix("mix", n_batches=2)
    with ThreadedSanctum(full_snapshot_every_s=every_s) as server:
        server.ingest(events[:50])
        with Watcher(server, "mix", max_hz=30, incremental=True) as inc, \
                Watcher(server, "mix", max_hz=30) as full:
            for i in range(50, len(events), 150):
                server.ingest(events[i:i + 150])
                time.sleep(0.04)
            last = server.snapshot("mix").version
            wait_for(lambda: last in _replay(inc)[0], what="the last version (deltas)")
            assert full.wait_for(lambda s: s.version == last, 30) is not None
            got, fulls = _replay(inc)[0], {s.version: _wire(s) for s in full.snapshots()}
            common = set(got) & set(fulls)
            assert len(common) >= 5 and all(got[v] == fulls[v] for v in common)
            return _timed_fulls([m for _, m in list(inc.messages)])


def test_an_incremental_stream_gets_a_full_snapshot_again_after_the_interval() -> None:
    """A client that misapplied a delta is set right within --full-snapshot-every: full
    snapshots come again between deltas (where a delta would have been smaller)."""
    timed, deltas = _watch_with_full_every(0.4)
    assert timed >= 1 and deltas >= 5, (timed, deltas)


def test_with_the_interval_off_no_full_snapshot_comes_for_time() -> None:
    timed, deltas = _watch_with_full_every(0.0)
    assert timed == 0 and deltas >= 5, (timed, deltas)


def test_an_unknown_base_gets_a_full_snapshot() -> None:
    events = original_mix("mix", n_batches=1)
    with ThreadedSanctum() as server:
        server.ingest(events[:100])
        fanout = server.server.fanout
        run = server.in_loop(fanout.aggregator.get, "mix")
        first = server.in_loop(fanout.current, run)
        server.ingest(events[100:200])
        latest = server.in_loop(fanout.current, run)
        unknown = spb.WatchSnapshotsResponse.FromString(
            server.in_loop(fanout.update_bytes, "mix", latest, -1))
        known = spb.WatchSnapshotsResponse.FromString(
            server.in_loop(fanout.update_bytes, "mix", latest, first.build))
    assert unknown.WhichOneof("kind") == "snapshot"
    assert unknown.snapshot.version == latest.version
    assert known.WhichOneof("kind") == "delta"
    assert known.delta.base_version == first.version
    assert _wire(apply_delta(first.snap, known.delta)) == _wire(latest.snap)


async def _first_snapshot_through_counter(address: str, compressed: bool
                                          ) -> tuple[spb.SanctumSnapshot, int]:
    """The first snapshot of a stream relayed through a TCP proxy that counts the bytes
    coming from the server (HTTP/2 and gRPC framing included)."""
    host, port = address.rsplit(":", 1)
    received = [0]

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    count: bool) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                received[0] += len(data) if count else 0
                writer.write(data)
                await writer.drain()
        writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        await asyncio.gather(relay(reader, up_writer, False), relay(up_reader, writer, True))

    proxy = await asyncio.start_server(handle, "127.0.0.1", 0)
    local = proxy.sockets[0].getsockname()[1]
    try:
        async with aio_channel(ChannelConfig(f"127.0.0.1:{local}")) as channel:
            call = sanctum_pb2_grpc.SanctumServiceStub(channel).WatchSnapshots(
                spb.WatchSnapshotsRequest(run_id="mix", compressed=compressed))
            async for msg in call:
                if msg.HasField("snapshot"):
                    call.cancel()
                    return msg.snapshot, received[0]
        raise AssertionError("no snapshot")
    finally:
        proxy.close()


async def test_a_compressed_stream_is_smaller_on_the_wire_and_the_same_after() -> None:
    with ThreadedSanctum() as server:
        await asyncio.to_thread(server.ingest, original_mix("mix", n_batches=1))
        plain, plain_bytes = await _first_snapshot_through_counter(server.address, False)
        packed, packed_bytes = await _first_snapshot_through_counter(server.address, True)
    assert packed.version == plain.version
    packed.ClearField("generated_at")
    plain.ClearField("generated_at")
    packed.run.ClearField("seconds_since_last_event")
    plain.run.ClearField("seconds_since_last_event")
    assert _wire(packed) == _wire(plain)
    assert plain_bytes > plain.ByteSize() > 3 * packed_bytes, (plain_bytes, packed_bytes)
