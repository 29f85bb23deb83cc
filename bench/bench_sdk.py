"""Benchmark of the producer SDK's calls on the caller's thread (not a test).

Times `run.log({...}, step=i)` and typed emitters (a small one, the per-env epoch, and
the widest, a PPO update with ~20 fields and 8 heads) while the run streams to a real
sanctum in a subprocess (so only the SDK's own sender thread shares this interpreter).
A call hands its arguments to the sender thread, which builds the event: the caller's
cost is the call, reading log()'s values, a sequence number and an append, plus its share
of the garbage collector's pauses (each queued event is an object the collector counts).
The reference is a no-op method taking the same arguments, called alternately with the
real one in the same loop (same timer, pacing and moments of machine noise). Goal: p99 <=
10 us.

Run from the repository root:  .venv/bin/python -m bench.bench_sdk [--quick]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import esper_client
from bench import Row, adapt, percentile, register
from esper_client.emitters import Emitters
from testkit import SanctumProcess

GOAL_P99_US = 10.0
PACE_S = 20e-6  # ~20 us of "training" between calls


class NoOp(Emitters):
    """The reference: the same call shapes, doing nothing."""

    def log(self, metrics: Any, step: int | None = None, **kw: Any) -> None:
        pass

    def epoch_completed(self, **kw: Any) -> None:
        pass

    def ppo_update_completed(self, **kw: Any) -> None:
        pass


#: Per-head metrics of the PPO update, built once (as a loop would keep its head list).
HEADS = [{"head": h, "entropy": 0.5, "grad_norm": 0.1} for h in range(1, 9)]


CALLS: dict[str, Callable[[Any, int], None]] = {
    "log() of 2 scalars": lambda r, i: r.log({"loss": 0.31, "lr": 3e-4}, step=i),
    "log() of 8 scalars": lambda r, i: r.log(
        {"loss": 0.31, "lr": 3e-4, "acc": 0.9, "grad": 1.2, "a": 1.0, "b": 2.0, "c": 3.0,
         "d": 4.0}, step=i),
    "epoch_completed() emitter": lambda r, i: r.epoch_completed(
        val_accuracy=0.91, val_loss=0.3, train_loss=0.25, reward=0.1, env_id=i % 4, epoch=i),
    "ppo_update_completed() emitter": lambda r, i: r.ppo_update_completed(
        policy_loss=0.1, value_loss=0.5, entropy=1.2, kl_divergence=0.01, clip_fraction=0.1,
        clip_fraction_positive=0.05, clip_fraction_negative=0.05, grad_norm=1.0,
        pre_clip_grad_norm=1.5, explained_variance=0.8, value_mean=0.1, value_std=0.2,
        value_min=-1.0, value_max=1.0, advantage_mean=0.0, advantage_std=1.0, ratio_min=0.9,
        ratio_max=1.1, lr=3e-4, entropy_coef=0.01, update_index=i, heads=HEADS,
        event_batch=i),
}


def time_calls(call: Callable[[Any, int], None], target: Any, reference: Any, n: int
               ) -> tuple[list[float], list[float]]:
    """Per-call latency in microseconds of `call` on `target` and on `reference`,
    alternating (so both meet the same moments of machine noise), with PACE_S of busy
    work after each call."""
    clock = time.perf_counter_ns
    got: list[float] = []
    ref: list[float] = []
    for i in range(n):
        for who, out in ((reference, ref), (target, got)):
            t0 = clock()
            call(who, i)
            out.append((clock() - t0) / 1000.0)
            until = time.perf_counter() + PACE_S
            while time.perf_counter() < until:
                pass
    return got, ref


def run(quick: bool = False) -> list[dict[str, Any]]:
    n = 3_000 if quick else 30_000
    rows: list[dict[str, Any]] = []
    noop = NoOp()
    with tempfile.TemporaryDirectory() as tmp:
        server = SanctumProcess(":memory:")
        server.start()
        try:
            run_ = esper_client.init(server=server.address, run_id=f"bench-sdk-{time.time_ns()}",
                                     spool_dir=tmp)
            for name, call in CALLS.items():
                time_calls(call, run_, noop, 200)  # warm up
                got, ref = time_calls(call, run_, noop, n)
                for q in (0.5, 0.99):
                    value = percentile(got, q)
                    goal = GOAL_P99_US if q == 0.99 else None
                    rows.append({"name": f"{name} p{int(q * 100)}", "value": round(value, 2),
                                 "unit": "us", "reference": round(percentile(ref, q), 2),
                                 "goal": goal,
                                 "passed": None if goal is None else value <= goal})
            run_.finish(timeout=30)
            stats = run_.stats()
        finally:
            server.terminate()
    sent = 1 + 200 * len(CALLS) + n * len(CALLS) + 1
    rows.append({"name": "events acknowledged by sanctum", "value": stats["acked"],
                 "unit": "events", "reference": sent, "goal": None,
                 "passed": stats["acked"] == sent})
    return rows


@register("sdk")
def bench_sdk(quick: bool) -> list[Row]:
    logging.getLogger("esper_client").setLevel(logging.ERROR)
    rows = run(quick)
    for r in rows:
        if r["goal"] is not None:
            r["goal"] = f"<= {r['goal']:g} us"
        if r["unit"] == "us":
            r["reference"] = f"no-op {r['reference']} us"
    return adapt(rows, "sdk: ")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    rows = bench_sdk(args.quick)
    for r in rows:
        print(r)
    return 1 if any(r["passed"] is False for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
