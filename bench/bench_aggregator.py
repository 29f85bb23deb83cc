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

from esper.telemetry.v1 import telemetry_pb2 as tpb
from sanctum_svc.aggregator import RunAggregator
from tests.sanctum.events import realistic_run


def best_of(repeats: int, fn: object) -> float:
    """Best wall time of `repeats` calls of fn() (seconds)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--envs", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    events = realistic_run(args.batches, n_envs=args.envs, epochs=args.epochs, seed=1)
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

    t_apply = best_of(args.repeats, apply_all)
    t_ref = best_of(args.repeats, reference)
    run = apply_all()
    snap_n = 200
    t_snap = best_of(args.repeats, lambda: [run.snapshot(times[-1]) for _ in range(snap_n)])
    snap = run.snapshot(times[-1])
    size = len(snap.SerializeToString())

    print(f"events: {n} ({', '.join(f'{k} {v}' for k, v in mix.most_common(4))}, ...)")
    print(f"apply():            {n / t_apply / 1e3:8.0f} k events/s  ({t_apply / n * 1e6:.2f} µs)")
    print(f"reference dict upd: {n / t_ref / 1e3:8.0f} k events/s  ({t_ref / n * 1e6:.2f} µs)")
    print(f"snapshot():         {t_snap / snap_n * 1e6:8.0f} µs  ({size} bytes serialized, "
          f"{len(snap.envs)} envs)")  # fmt: skip


if __name__ == "__main__":
    main()
