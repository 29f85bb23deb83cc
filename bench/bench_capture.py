"""What telemetry costs the trainer's TRAINING THREAD, sender excluded.

Two measures on the default run (TrainerConfig, episodes=64 or 32 with --quick):

(a) A/B: the training thread's CPU clock (`time.thread_time`) with a sink that only counts
    what it is handed vs NullTelemetry (which makes the loop build nothing), in interleaved
    rounds (off, deferred, off, eager): "deferred" offers `emit_deferred` (as
    TelemetryClient does: events are captured, the sender builds them), "eager" offers
    `emit()` only (the loop builds every event itself). Mean of the paired overheads with
    its 95 % bootstrap interval.
(b) Timed per call: the Trainer's telemetry methods (`_emit*`, `_maybe_vitals`) and every
    sink call outside them, timed on the thread's CPU clock (so time the thread spends
    preempted on a shared machine is not counted); % of the training thread's other CPU.
    Precise where (a) drowns in the machine's noise; it covers everything the loop does for
    telemetry because the loop does telemetry work only in those methods.

    taskset -c 0 python -m bench.bench_capture [--quick] [--rounds N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

import torch

from bench import Row, adapt, register
from bench.bench_trainer import mean_interval, timed_telemetry
from esper_client import NullTelemetry
from trainer_svc.config import TrainerConfig
from trainer_svc.train import Trainer

#: Issue 15's budget for the whole of telemetry is 1 %; the training thread's share.
THREAD_GOAL_PCT = 0.4


class CountingSink:
    """Takes events (built, or deferred when `deferred`) and only counts them: the cost
    that remains is the training thread's own."""

    enabled = True

    def __init__(self, deferred: bool) -> None:
        self.n = 0
        if deferred:
            self.emit_deferred = self._count

    def _count(self, item: Any) -> None:
        self.n += 1

    def emit(self, event: Any) -> None:
        self.n += 1


def _run(cfg: TrainerConfig, sink: Any) -> float:
    """Training-thread CPU seconds of one run."""
    t0 = time.thread_time()
    Trainer(cfg, sink).run()
    return time.thread_time() - t0


def per_call(cfg: TrainerConfig, deferred: bool, runs: int) -> tuple[float, float, int]:
    """(µs per event, % of the training thread's other CPU, events/run), medians."""
    us, pct, n = [], [], 0
    for _ in range(runs):
        sink, spent = CountingSink(deferred), [0.0]
        with timed_telemetry(sink, spent):
            cpu = _run(cfg, sink)
        n = sink.n
        us.append(spent[0] / n * 1e6)
        pct.append(spent[0] / (cpu - spent[0]) * 100.0)
    return statistics.median(us), statistics.median(pct), n


def run(quick: bool = False, rounds: int | None = None) -> list[dict[str, Any]]:
    """Rows: the A/B comparison over `rounds` rounds (0: skipped), then the per-call one."""
    torch.set_num_threads(1)
    cfg = TrainerConfig(episodes=32 if quick else 64)
    rounds = (3 if quick else 8) if rounds is None else rounds
    _run(cfg, NullTelemetry())  # warm caches and the allocator
    rows = ab_rows(cfg, rounds) if rounds else []
    for deferred, label in ((True, "sink with emit_deferred"), (False, "sink with emit() only")):
        us, pct, n = per_call(cfg, deferred, 2 if quick else 3)
        rows.append(dict(name=f"capture: telemetry on the training thread, {label}", value=pct,
                         unit="% of training", reference=f"{us:.2f} us/event, {n} events/run",
                         goal=f"<= {THREAD_GOAL_PCT:g} %" if deferred else "",
                         passed=pct <= THREAD_GOAL_PCT if deferred else None))
    return rows


def ab_rows(cfg: TrainerConfig, rounds: int) -> list[dict[str, Any]]:
    """Training-thread CPU with a counting sink vs NullTelemetry, interleaved rounds."""
    cpu: dict[str, list[float]] = {"off_d": [], "deferred": [], "off_e": [], "eager": []}
    for _ in range(rounds):
        for key in cpu:
            sink = NullTelemetry() if key.startswith("off") else CountingSink(key == "deferred")
            cpu[key].append(_run(cfg, sink))
    rows = [dict(name="capture: training-thread CPU, telemetry off", value=statistics.median(
        cpu["off_d"] + cpu["off_e"]), unit="s", reference=f"{rounds} rounds, median",
        goal="reference", passed=None)]
    for key, base, label in (("deferred", "off_d", "sink with emit_deferred"),
                             ("eager", "off_e", "sink with emit() only")):
        pcts = [(a - b) / b * 100.0 for a, b in zip(cpu[key], cpu[base], strict=True)]
        mean, low, high = mean_interval(pcts)
        rows.append(dict(name=f"capture: training-thread CPU overhead, {label}", value=mean,
                         unit="%", reference=f"95% CI {low:+.2f}..{high:+.2f}, {rounds} pairs",
                         goal="", passed=None))
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="shorter runs, fewer rounds")
    p.add_argument("--rounds", type=int, default=None,
                   help="A/B rounds (default 8, quick 3; 0: per-call timing only)")
    ns = p.parse_args(argv)
    rows = run(ns.quick, ns.rounds)
    for r in rows:
        print(f"{r['name']:<66} {r['value']:>8.3f} {r['unit']:<14} {r['reference']}")
    return 0 if all(r["passed"] is not False for r in rows) else 1


@register("capture")
def bench_capture(quick: bool) -> list[Row]:
    return adapt(run(quick))


if __name__ == "__main__":
    sys.exit(main())
