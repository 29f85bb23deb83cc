"""Server memory held by subscribers that stop reading (not a test).

stalled_memory: 200 watchers of a ~0.8 MB snapshot read one snapshot and never read again
    (their process alive, connections open) while a producer keeps changing the run;
    --stall-timeout (3 s) drops them. Rows: sanctum's RSS before, with the 200 stalled, and
    after they were dropped (bench/stalled.py). Goal: back within 30 MB of before.

    python -m bench [--quick] stalled_memory
"""

from __future__ import annotations

from bench import Row, register, row
from bench.stalled import measure

MB = 2**20
GOAL_MB = 30.0


@register("stalled_memory")
def bench_stalled_memory(quick: bool) -> list[Row]:
    n = 200
    m = measure(n=n, stall_timeout=3.0)
    back = (m.rss_after - m.rss_before) / MB
    return [
        row(f"stalled subscribers: server RSS before {n} watchers", m.rss_before / MB, "MB",
            f"snapshot {m.snapshot_bytes / MB:.2f} MB", "", None),
        row(f"stalled subscribers: server RSS with {n} stalled", m.rss_stalled / MB, "MB",
            f"+{(m.rss_stalled - m.rss_before) / MB:.0f} MB", "", None),
        row(f"stalled subscribers: server RSS after the {m.dropped} were dropped",
            m.rss_after / MB, "MB", f"+{back:.1f} MB over before",
            f"< +{GOAL_MB:g} MB", back < GOAL_MB and m.others_served),
    ]
