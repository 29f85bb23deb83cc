"""emit() -> subscriber latency by send path and send gap (not a test).

bench_freshness's rounds (a client emitting 2,000 events/s to a sanctum process, 32
subscribers at 30 Hz in another process), interleaved over: Ingest calls at the default gap
(the reference: the client before IngestStream), and IngestStream at the default gap and at
smaller ones. Shows what a smaller gap buys; bench_sender shows what it costs.

    python -m bench [--quick] freshness_gap
"""

from __future__ import annotations

import tempfile
from typing import Any

from bench import Row, percentile, register, row
from bench.bench_freshness import HZ, N_SUBS, RATE, _round
from esper_client import TelemetryConfig

DEFAULT_GAP = TelemetryConfig.send_gap_s
GAPS = (DEFAULT_GAP, 0.03, 0.02)


@register("freshness_gap")
def bench_freshness_gap(quick: bool) -> list[Row]:
    seconds, rounds = (3.0, 1) if quick else (5.0, 2)
    configs: dict[str, dict[str, Any]] = {
        f"Ingest calls, gap {DEFAULT_GAP * 1e3:g} ms": {"ingest_stream": False}}
    for gap in GAPS:
        configs[f"IngestStream, gap {gap * 1e3:g} ms"] = {"send_gap_s": gap}
    lat: dict[str, list[float]] = {k: [] for k in configs}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            for n, (key, cfg) in enumerate(configs.items()):
                lat[key] += _round(tmp, f"gap-{r}-{n}", seconds, **cfg)[0]
    ref = next(iter(configs))
    ref99 = percentile(lat[ref], 0.99) * 1e3
    where = f"{N_SUBS} subs @{HZ:g} Hz, {RATE:,} ev/s"
    rows = []
    for key in configs:
        p50, p99 = percentile(lat[key], 0.5) * 1e3, percentile(lat[key], 0.99) * 1e3
        rows.append(row(f"emit() -> subscriber p50 / p99, {key}, {where}", p99, "ms (p99)",
                        f"p50 {p50:.0f} ms; {ref}: p99 {ref99:.0f} ms", "", None))
    return rows
