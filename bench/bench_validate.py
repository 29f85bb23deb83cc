"""Cost of validating a batch: sanctum's checker (its fast path, and the rules that name
fields) against protovalidate, the reference implementation of the same buf.validate
options declared in proto/. Same 64-event batches of a realistic run, per batch, best of 5
repeats; the ratio protovalidate / sanctum fast path is what decided to keep our own
checker on the ingest hot path."""

from __future__ import annotations

import time
from collections.abc import Callable

from bench import Row, register, row
from esper.telemetry.v1 import telemetry_pb2 as tpb
from sanctum_svc import rules, validate
from testkit import build_run_events


def _best(fn: Callable[[], object], n: int) -> float:
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t0) / n)
    return best


@register("validate")
def bench_validate(quick: bool) -> list[Row]:
    import protovalidate

    events = build_run_events("v", n_batches=20)
    batch = tpb.EventBatch(events=events[:64])
    raw = batch.SerializeToString()
    assert validate.validate_batch(batch, lambda r: None, raw=raw) == []
    assert protovalidate.collect_violations(batch) == []
    n = 50 if quick else 300
    fast = _best(lambda: validate.validate_batch(batch, lambda r: None, raw=raw), n)
    walk = _best(lambda: [list(rules.walk(e)) for e in batch.events], n)
    ref = _best(lambda: protovalidate.collect_violations(batch), n)
    return [
        row("validate 64 events: sanctum fast path", fast * 1e6, "us", "hot path"),
        row("validate 64 events: sanctum rules (field names)", walk * 1e6, "us",
            "only for refused batches"),
        row("validate 64 events: protovalidate 2.1", ref * 1e6, "us",
            f"{ref / fast:.1f}x the fast path", "", None),
    ]
