"""In-process baseline for the sanctum_ingest rows: the same events applied by a direct call.

The original single-process system applied each event with a function call on the trainer's
own process; this row measures that (`RunAggregator.apply` per event, no gRPC, no validation,
no persistence) on exactly the batches `sanctum_ingest` streams, so the table shows the cost
of the service boundary beside the raw gRPC limit and the real sanctum.

    python -m bench [--quick] sanctum_ingest sanctum_ingest_baseline
"""

from __future__ import annotations

import statistics
import time

from bench import Row, register, row
from bench.bench_sanctum import _requests  # the very batches sanctum_ingest sends
from sanctum_svc.aggregator import RunAggregator


def apply_rate(run_id: str, n_batches: int) -> float:
    """Events/s of RunAggregator.apply over the events of sanctum_ingest's requests."""
    events = [ev for req in _requests(run_id, n_batches) for ev in req.batch.events]
    agg = RunAggregator(run_id)
    started = time.perf_counter()
    for ev in events:
        agg.apply(ev, time.time())
    elapsed = time.perf_counter() - started
    assert agg.snapshot(time.time()).tamiyo.groups
    return len(events) / elapsed


@register("sanctum_ingest_baseline")
def bench_baseline(quick: bool) -> list[Row]:
    n_batches = 300 if quick else 2500  # as sanctum_ingest
    rates = [apply_rate(f"base-{r}", n_batches) for r in range(2 if quick else 3)]
    return [row("in-process baseline: RunAggregator.apply() per event", statistics.median(rates),
                "events/s", "same events as sanctum_ingest", "reference", None)]
