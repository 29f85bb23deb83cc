"""Snapshot size: protobuf bytes vs the same snapshot as compact JSON (not a test).

Snapshots are built by the real aggregator from a realistic run with 4, 16 and 64 envs
(testkit.events.realistic_run: seeded random metric values at full float precision, as
a real trainer produces; round synthetic values would flatter JSON, whose numbers are text).
JSON is the proto3 JSON mapping (google.protobuf.json_format, as MessageToJson produces
it) dumped without whitespace, i.e. the smallest JSON a REST/WebSocket variant would send.
Goal: protobuf <= 40 % of JSON.
"""

from __future__ import annotations

import json

from google.protobuf import json_format

from bench import Row, register, row
from sanctum_svc.aggregator import RunAggregator
from testkit.events import realistic_run

GOAL_RATIO = 0.40


def sizes(n_envs: int, n_batches: int = 20) -> tuple[int, int]:
    """(protobuf bytes, compact JSON bytes) of one run's snapshot with n_envs envs."""
    agg = RunAggregator("run-1")
    for i, ev in enumerate(realistic_run(n_batches, n_envs=n_envs, epochs=10, seed=1)):
        agg.apply(ev, 1_700_000_000.0 + i * 0.01)
    snap = agg.snapshot(1_700_000_100.0)
    as_json = json.dumps(json_format.MessageToDict(snap), separators=(",", ":"))
    return snap.ByteSize(), len(as_json.encode())


@register("snapshot_size")
def bench_size(quick: bool) -> list[Row]:
    rows = []
    for n in (4, 16, 64):
        pb, js = sizes(n, 10 if quick else 20)
        rows.append(row(f"snapshot size: protobuf, {n} envs", pb, "bytes", f"JSON {js:,} bytes",
                        "", None))
        ratio = pb / js
        rows.append(row(f"snapshot size: protobuf / JSON, {n} envs", ratio * 100, "%",
                        "same snapshot", f"<= {GOAL_RATIO:.0%}", ratio <= GOAL_RATIO))
    return rows
