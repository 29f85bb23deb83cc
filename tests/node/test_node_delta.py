"""The Node client's watch with deltas (the default) against a live sanctum: while a run's
events arrive in steps, the snapshots it rebuilds from deltas (gzipped or not) equal,
version for version, the ones a `--full` watch prints, and its last one equals
GetSnapshot's; a delta that does not apply is never applied: the client says so and
resubscribes for a full snapshot."""

from __future__ import annotations

import re
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format

from esper.sanctum.v2 import sanctum_pb2 as spb
from testkit import ThreadedSanctum
from testkit.original_mix import original_mix
from testkit.snapshots import comparable
from tests.node.test_node_client import NODE_DIR, built  # noqa: F401 - the build fixture

pytestmark = pytest.mark.node

RUN = "mix"
STATS = re.compile(r"^updates: (?P<full>\d+) full snapshots \((?P<full_bytes>\d+) bytes, \S+ per "
                   r"update\), (?P<deltas>\d+) deltas \((?P<delta_bytes>\d+) bytes, \S+ per "
                   r"update\), (?P<resubscribes>\d+) resubscribes$", re.M)


class NodeWatch:
    """`node dist/cli.js watch --json --stats ...` with its snapshots read on a thread."""

    def __init__(self, cli: Path, address: str, *args: str) -> None:
        self.proc = subprocess.Popen(
            ["node", str(cli), "--server", address, "--run", RUN, "--json", "--stats", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=NODE_DIR)
        self.snapshots: dict[int, spb.SanctumSnapshot] = {}
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        self.stderr = ""

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            snap = json_format.Parse(line, spb.SanctumSnapshot())
            with self.cond:
                self.snapshots[snap.version] = snap
                self.cond.notify_all()

    def wait_version(self, version: int, timeout: float = 30.0) -> spb.SanctumSnapshot:
        with self.cond:
            ok = self.cond.wait_for(lambda: version in self.snapshots
                                    or self.proc.poll() is not None, timeout)
            assert ok and version in self.snapshots, (
                f"no snapshot at version {version}; printed {sorted(self.snapshots)}")
            return self.snapshots[version]

    def stop(self) -> dict[str, int]:
        """Ctrl-C, then the --stats line's counts."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            _, self.stderr = self.proc.communicate(timeout=20)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        self.thread.join(10)
        assert self.proc.returncode == 0, self.stderr
        m = STATS.search(self.stderr)
        assert m, self.stderr
        return {k: int(v) for k, v in m.groupdict().items()}


@contextmanager
def watching(cli: Path, address: str, *args: str) -> Iterator[NodeWatch]:
    w = NodeWatch(cli, address, *args)
    try:
        yield w
    finally:
        if w.proc.poll() is None:
            w.proc.kill()
            w.proc.wait()


def ingest_in_steps(server: ThreadedSanctum, watches: list[NodeWatch], steps: int = 6) -> int:
    """The mix after its first 60 events, in `steps` parts, each seen by every watch;
    the last version."""
    rest = original_mix(RUN, n_batches=1)[60:]
    size = -(-len(rest) // steps)
    version = 0
    for i in range(0, len(rest), size):
        server.ingest(rest[i:i + size])
        version = server.snapshot(RUN).version
        for w in watches:
            w.wait_version(version)
    return version


def test_delta_watch_rebuilds_what_a_full_watch_and_get_snapshot_hold(built: Path) -> None:  # noqa: F811
    with ThreadedSanctum() as server:
        server.ingest(original_mix(RUN, n_batches=1)[:60])
        with watching(built, server.address) as inc, \
                watching(built, server.address, "--full") as full, \
                watching(built, server.address, "--compressed") as packed:
            last = ingest_in_steps(server, [inc, full, packed])
            final = server.snapshot(RUN)
            inc_stats, full_stats, packed_stats = inc.stop(), full.stop(), packed.stop()
    assert final.version == last
    common = set(inc.snapshots) & set(full.snapshots) & set(packed.snapshots)
    assert len(common) >= 6, (sorted(inc.snapshots), sorted(full.snapshots))
    for version in common:  # the last copy of each: a version is rebuilt as time passes
        want = comparable(full.snapshots[version])  # (liveness, generated_at), so clock
        assert comparable(inc.snapshots[version]) == want, version  # fields are left out
        assert comparable(packed.snapshots[version]) == want, version
    assert packed_stats["deltas"] >= 5, packed_stats
    assert comparable(inc.snapshots[last]) == comparable(final)
    assert inc_stats["full"] == 1 and inc_stats["deltas"] >= 5, inc_stats
    assert inc_stats["resubscribes"] == 0, inc.stderr
    assert full_stats["deltas"] == 0 and full_stats["full"] >= 6, full_stats
    per_delta = inc_stats["delta_bytes"] / inc_stats["deltas"]
    per_full = full_stats["full_bytes"] / full_stats["full"]
    assert per_delta < per_full, (inc_stats, full_stats)


def _corrupting(fanout: Any, every: int) -> Any:
    """fanout.update_bytes whose every `every`-th delta states a size one byte off."""
    original = fanout.update_bytes
    sent = [0]

    def update_bytes(run_id: str, cached: Any, base_build: int) -> bytes:
        data: bytes = original(run_id, cached, base_build)
        msg = spb.WatchSnapshotsResponse.FromString(data)
        if msg.WhichOneof("kind") != "delta":
            return data
        sent[0] += 1
        if sent[0] % every:
            return data
        msg.delta.full_bytes += 1
        return msg.SerializeToString()

    return update_bytes


@pytest.mark.parametrize("every", [2, 1], ids=["every-2nd-delta", "every-delta"])
def test_a_delta_that_does_not_apply_is_refused_and_the_watch_resubscribes(
        built: Path, every: int) -> None:  # noqa: F811
    with ThreadedSanctum() as server:
        server.ingest(original_mix(RUN, n_batches=1)[:60])
        fanout = server.server.fanout
        fanout.update_bytes = _corrupting(fanout, every)
        with watching(built, server.address) as inc:
            last = ingest_in_steps(server, [inc])
            final = server.snapshot(RUN)
            stats = inc.stop()
    assert final.version == last
    assert comparable(inc.snapshots[last]) == comparable(final)
    refused = [line for line in inc.stderr.splitlines() if "delta result is" in line]
    assert len(refused) == stats["resubscribes"] >= 1, inc.stderr
    assert stats["full"] >= 1 + stats["resubscribes"], stats
    assert all(line.startswith("esper-sanctum-node: delta result is ") for line in refused)
    if every == 1:  # never one that applies: after MAX_MISMATCHES, full snapshots only
        assert stats["resubscribes"] == stats["deltas"] == 3, stats
        assert refused[-1].endswith("; 3 deltas in a row did not apply: asking for full "
                                    "snapshots only"), refused
    else:
        assert stats["deltas"] > stats["resubscribes"], stats
        assert all(line.endswith("; resubscribing for a full snapshot") for line in refused)
    # Versions grow: a resubscription never reprints an older state.
    assert sorted(inc.snapshots) == list(inc.snapshots)
