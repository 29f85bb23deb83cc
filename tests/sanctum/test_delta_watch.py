"""Incremental WatchSnapshots on a live sanctum: a subscriber applying deltas holds, at
every version, the snapshot a full subscriber gets; subscribers that did not ask (old
clients) get only full snapshots; a base the server no longer holds gets a full one."""

from __future__ import annotations

import time

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper_common.delta import apply_delta
from testkit import ThreadedSanctum
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
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and last not in _replay(inc)[0]:
                time.sleep(0.05)
            got, deltas = _replay(inc)
            fulls = {s.version: _wire(s) for s in full.snapshots()}
            kinds = {m.WhichOneof("kind") for _, m in full.messages}
    assert last in got and last in fulls
    assert deltas >= 5, deltas
    common = set(got) & set(fulls)
    assert len(common) >= 5, (sorted(got), sorted(fulls))
    assert all(got[v] == fulls[v] for v in common)
    assert "delta" not in kinds  # a subscriber that did not ask gets whole snapshots


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
