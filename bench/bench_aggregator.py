"""Micro-benchmark of the sanctum aggregator (not a test).

Measures RunAggregator.apply() throughput for a realistic event mix (per env and epoch an
EPOCH_COMPLETED with 3 seeds and a decision card; seed lifecycle now and then; per batch a
barrier, a PPO update and vitals; alerts) beside a reference measured in the same run: a
dict update per event, the floor any in-order apply path pays. Also times snapshot().

Run from the repository root:  .venv/bin/python -m bench.bench_aggregator
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from bench import Row, register, row
from esper.telemetry.v1 import telemetry_pb2 as tpb
from sanctum_svc.aggregator import RunAggregator
from testkit.events import realistic_run


def best_of(repeats: int, fn: Callable[[], object]) -> float:
    """Best wall time of `repeats` calls of fn() (seconds)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


@dataclass
class AggregatorResult:
    events: int
    mix: Counter[str]
    apply_s: float  # best wall time to apply all events
    reference_s: float  # best wall time of the dict-update reference
    snapshot_s: float  # one snapshot() call
    snapshot_bytes: int
    envs: int


def measure(batches: int = 40, envs: int = 8, epochs: int = 25, repeats: int = 5
            ) -> AggregatorResult:
    events = realistic_run(batches, n_envs=envs, epochs=epochs, seed=1)
    n = len(events)
    times = [1_700_000_000.0 + i * 1e-4 for i in range(n)]
    mix = Counter(tpb.EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in events)

    def apply_all() -> RunAggregator:
        run = RunAggregator("bench")
        for event, at in zip(events, times, strict=True):
            run.apply(event, at)
        return run

    def reference() -> None:
        cursor: dict[tuple[str, str], int] = {}
        for event in events:
            cursor[(event.run_id, event.producer_id)] = event.seq

    t_apply = best_of(repeats, apply_all)
    t_ref = best_of(repeats, reference)
    run = apply_all()
    snap_n = 200
    t_snap = best_of(repeats, lambda: [run.snapshot(times[-1]) for _ in range(snap_n)])
    snap = run.snapshot(times[-1])
    return AggregatorResult(n, mix, t_apply, t_ref, t_snap / snap_n,
                            len(snap.SerializeToString()), len(snap.envs.envs))


@register("aggregator")
def bench_aggregator(quick: bool) -> list[Row]:
    r = measure(batches=10 if quick else 40, repeats=3 if quick else 5)
    return [
        row("aggregator: RunAggregator.apply()", r.events / r.apply_s, "events/s",
            f"dict update {r.events / r.reference_s:,.0f}/s", "", None),
        row(f"aggregator: snapshot() of {r.envs} envs", r.snapshot_s * 1e6, "us",
            f"{r.snapshot_bytes:,} bytes", "", None),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--envs", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    r = measure(args.batches, args.envs, args.epochs, args.repeats)
    n = r.events
    print(f"events: {n} ({', '.join(f'{k} {v}' for k, v in r.mix.most_common(4))}, ...)")
    print(f"apply():            {n / r.apply_s / 1e3:8.0f} k events/s  "
          f"({r.apply_s / n * 1e6:.2f} µs)")
    print(f"reference dict upd: {n / r.reference_s / 1e3:8.0f} k events/s  "
          f"({r.reference_s / n * 1e6:.2f} µs)")
    print(f"snapshot():         {r.snapshot_s * 1e6:8.0f} µs  ({r.snapshot_bytes} bytes "
          f"serialized, {r.envs} envs)")


if __name__ == "__main__":
    main()
