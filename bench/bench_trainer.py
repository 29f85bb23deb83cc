"""Trainer benchmark: does Tamiyo learn, and what does telemetry cost the training loop?

(a) Learning: train with the default settings, then compare the mean episode reward of
    the trained policy with a uniform-random masked policy on the same eval envs/seeds.
(b) Overhead: training wall time and process CPU time with telemetry streaming to a real
    sanctum (a separate `esper-sanctum` process) or to an event file vs NullTelemetry (which
    makes the loop build no events at all), in interleaved pairs; the mean of the paired
    overheads with its 95 % bootstrap interval. Then the precise parts: the client's CPU on
    its own threads (process CPU minus the training thread's CPU clock, so gRPC's C threads
    count too), and building + emit() on the training thread timed per call.

    python -m bench.bench_trainer [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import inspect
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from bench import Row, adapt, register
from esper_client import NullTelemetry, TelemetryClient, TelemetryConfig
from testkit import SanctumProcess
from trainer_svc import emit as emit_module
from trainer_svc.config import TrainerConfig
from trainer_svc.evaluate import mean_episode_reward
from trainer_svc.train import Trainer

OVERHEAD_GOAL_PCT = 1.0
#: Bootstrap resamples for the interval of a mean (seeded: the same rounds give the same
#: interval).
RESAMPLES = 4000
DEFAULT_RUN_GOAL_S = 60.0


def row(name: str, value: float, unit: str, reference: Any, goal: str, passed: bool | None
        ) -> dict[str, Any]:
    return dict(name=name, value=value, unit=unit, reference=reference, goal=goal,
                passed=passed)


def learning_rows(quick: bool) -> list[dict[str, Any]]:
    cfg = TrainerConfig(episodes=64 if quick else TrainerConfig.episodes)
    t0 = time.perf_counter()
    result = Trainer(cfg, NullTelemetry()).run()
    train_s = time.perf_counter() - t0
    batches = 3 if quick else 6
    trained = mean_episode_reward(cfg, result.policy, batches=batches)
    random = mean_episode_reward(cfg, None, batches=batches)
    rows = [row("trainer: mean episode reward, trained vs random policy", trained, "reward",
                round(random, 4), "> random", trained > random)]
    if not quick:
        rows.append(row("trainer: default run wall time (no telemetry)", train_s, "s", None,
                        f"< {DEFAULT_RUN_GOAL_S:.0f} s", train_s < DEFAULT_RUN_GOAL_S))
    return rows


def _cpu_s() -> float:
    """This process's CPU time (all threads: training and the telemetry sender)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _timed_run(cfg: TrainerConfig, target: str | None, spool: str, run_id: str,
               file_path: str | None = None, flush_s: float | None = None
               ) -> tuple[float, float, float, int]:
    """Training wall time, process CPU time and CPU time outside the training thread (the
    telemetry sender and gRPC's threads; exited threads included), all excluding the final
    flush; events emitted."""
    if target is None and file_path is None:
        sink: Any = NullTelemetry()
    else:
        extra: dict[str, Any] = {} if flush_s is None else {"flush_interval_s": flush_s}
        sink = TelemetryClient(TelemetryConfig(target=target, run_id=run_id,
                                               producer_id="bench", spool_dir=spool,
                                               file_path=file_path, **extra))
    sink.start()
    c0, m0, t0 = _cpu_s(), time.thread_time(), time.perf_counter()
    Trainer(cfg, sink).run()
    elapsed, cpu = time.perf_counter() - t0, _cpu_s() - c0
    background = cpu - (time.thread_time() - m0)
    sink.close(30)
    stats = sink.stats()
    if stats:
        assert stats["acked"] == stats["emitted"], stats  # nothing lost on the way
    return elapsed, cpu, background, int(stats.get("emitted", 0))


@contextlib.contextmanager
def _timing_builders(spent: list[float]) -> Iterator[None]:
    """Add the time spent in trainer_svc.emit's event builders (outermost calls only) to
    spent[0] while active."""
    targets = [(emit_module, name) for name, f in vars(emit_module).items()
               if inspect.isfunction(f) and f.__module__ == emit_module.__name__]
    originals = {(module, name): getattr(module, name) for module, name in targets}
    depth = [0]

    def timed(f: Any) -> Any:
        @functools.wraps(f)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            depth[0] += 1
            t0 = time.perf_counter()
            try:
                return f(*args, **kwargs)
            finally:
                depth[0] -= 1
                if not depth[0]:
                    spent[0] += time.perf_counter() - t0
        return wrapper

    for (module, name), f in originals.items():
        setattr(module, name, timed(f))
    try:
        yield
    finally:
        for (module, name), f in originals.items():
            setattr(module, name, f)


def training_thread_cost(cfg: TrainerConfig, spool: str, runs: int) -> tuple[float, float]:
    """What telemetry costs the training thread itself: building the events (trainer_svc.emit,
    including the seed gradient norms they read) plus `emit()`, timed around each call, over
    `runs` runs to an event file. Returns (µs per event, % of the run's training-thread CPU),
    medians. Precise where the paired wall-time comparison drowns in the machine's noise."""
    per_event, pct = [], []
    for i in range(runs):
        sink = TelemetryClient(TelemetryConfig(target=None, run_id=f"cost-{i}",
                                               producer_id="bench", spool_dir=spool,
                                               file_path=f"{spool}/cost-{i}.events"))
        sink.start()
        spent = [0.0]
        inner = sink.emit

        def emit(event: Any, inner: Any = inner, spent: list[float] = spent) -> None:
            t0 = time.perf_counter()
            inner(event)
            spent[0] += time.perf_counter() - t0

        sink.emit = emit  # type: ignore[method-assign]  # timed wrapper on this instance
        m0 = time.thread_time()
        with _timing_builders(spent):
            Trainer(cfg, sink).run()
        main_cpu = time.thread_time() - m0
        sink.close(30)
        n = sink.stats()["emitted"]
        per_event.append(spent[0] / n * 1e6)
        pct.append(spent[0] / (main_cpu - spent[0]) * 100.0)
    return statistics.median(per_event), statistics.median(pct)


def _overheads(on: list[float], off: list[float]) -> list[float]:
    """Per-round overhead in % (round i's variant vs the same round's telemetry-off run)."""
    return [(a - b) / b * 100.0 for a, b in zip(on, off, strict=True)]


def mean_interval(values: list[float], level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): the mean of paired per-round differences and its percentile
    bootstrap interval (resampling rounds, which are the independent units)."""
    rng = random.Random(0)
    n = len(values)
    means = sorted(statistics.fmean(rng.choices(values, k=n)) for _ in range(RESAMPLES))
    tail = (1.0 - level) / 2
    return (statistics.fmean(values), means[int(tail * RESAMPLES)],
            means[min(RESAMPLES - 1, int((1.0 - tail) * RESAMPLES))])


def _interval(values: list[float]) -> str:
    mean, low, high = mean_interval(values)
    return f"95% CI {low:+.2f}..{high:+.2f} over {len(values)} pairs"


def _pin(pid: int, cpus: set[int]) -> None:
    """Every thread of process `pid` (threads started later inherit it)."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError):  # a thread that just exited
            os.sched_setaffinity(int(tid), cpus)


@contextlib.contextmanager
def own_cpu(server_pid: int) -> Iterator[str]:
    """With 2+ CPUs: this process (training and the telemetry client) on one CPU, sanctum on
    the others, standing in for sanctum on another host; restored afterwards. Yields how the
    CPUs were split, for the report."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2 or not os.path.isdir(f"/proc/{server_pid}/task"):
        yield "trainer and sanctum share the CPUs"
        return
    _pin(server_pid, set(cpus[1:]))
    _pin(os.getpid(), {cpus[0]})
    try:
        yield f"trainer on CPU {cpus[0]}, sanctum on {len(cpus) - 1} other(s)"
    finally:
        _pin(os.getpid(), set(cpus))


def overhead_rows(quick: bool, flush_s: float | None = None) -> list[dict[str, Any]]:
    """Telemetry off vs event file vs gRPC to a sanctum process, interleaved rounds.

    Each round runs off, gRPC, off, file (ABAB: each "on" run is paired with the "off" run
    right before it), so slow drift on a shared machine hits both sides of a pair alike;
    the mean over rounds of the paired overheads is reported with its 95 % bootstrap
    interval. The trainer
    gets a CPU of its own and sanctum the others (`own_cpu`), as when sanctum runs on another
    host: otherwise, on a small machine, sanctum's ingest CPU competing with the training
    would be counted as the client's. The process CPU time (getrusage, all threads) and the
    event-file variant show the client's own cost.
    """
    cfg = TrainerConfig(episodes=32 if quick else 64)
    rounds = 3 if quick else 12
    wall: dict[str, list[float]] = {"off_g": [], "grpc": [], "off_f": [], "file": []}
    cpu: dict[str, list[float]] = {k: [] for k in wall}
    background: dict[str, list[float]] = {k: [] for k in wall}
    emitted = 0
    with tempfile.TemporaryDirectory() as tmp:
        server = SanctumProcess(str(Path(tmp) / "bench.sqlite"))
        server.start()
        assert server.proc is not None
        try:
            with own_cpu(server.proc.pid) as placement:
                _timed_run(cfg, None, tmp, "warmup")  # warm caches/allocator before timing
                _timed_run(cfg, server.address, tmp, "warmup-grpc", None, flush_s)
                for i in range(rounds):
                    for key, target, path in (
                            ("off_g", None, None), ("grpc", server.address, None),
                            ("off_f", None, None), ("file", None, f"{tmp}/file-{i}.events")):
                        t, c, b, n = _timed_run(cfg, target, tmp, f"bench-{key}-{i}", path,
                                                flush_s)
                        wall[key].append(t)
                        cpu[key].append(c)
                        background[key].append(b)
                        emitted = max(emitted, n)
                cost_us, cost_pct = training_thread_cost(cfg, tmp, 2 if quick else 3)
        finally:
            server.terminate()
    off = statistics.median(wall["off_g"] + wall["off_f"])
    rows = [row(f"trainer: wall time, telemetry off ({emitted} events/run when on)",
                off, "s", f"{rounds} rounds, median; {placement}", "reference", None)]
    for kind, label in (("grpc", "gRPC to a sanctum process"), ("file", "event file")):
        base = "off_g" if kind == "grpc" else "off_f"
        for measure, series, goal in (("wall", wall, True), ("CPU", cpu, False)):
            pcts = _overheads(series[kind], series[base])
            mean = statistics.fmean(pcts)
            rows.append(row(f"trainer: telemetry overhead, {measure} time, {label}", mean, "%",
                            _interval(pcts), f"< {OVERHEAD_GOAL_PCT:g} %" if goal else "",
                            mean < OVERHEAD_GOAL_PCT if goal else None))
        # Precise and insensitive to the training's own jitter: CPU the client adds on
        # threads of its own, relative to the training thread's CPU in the paired off run.
        pcts = [(b - b0) / (c0 - b0) * 100.0 for b, b0, c0 in
                zip(background[kind], background[base], cpu[base], strict=True)]
        rows.append(row(f"trainer: client CPU on its own threads, {label}",
                        statistics.fmean(pcts), "% of training", _interval(pcts), "", None))
    rows.append(row("trainer: building + emit() on the training thread", cost_pct,
                    "% of training", f"{cost_us:.1f} us/event, timed per call", "", None))
    return rows


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Rows {name, value, unit, reference, goal, passed} for the bench table."""
    torch.set_num_threads(1)
    return learning_rows(quick) + overhead_rows(quick)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="shorter runs, fewer repeats")
    ns = p.parse_args(argv)
    rows = run(ns.quick)
    for r in rows:
        mark = {True: "ok", False: "MISSED", None: ""}[r["passed"]]
        print(f"{r['name']:<62} {r['value']:>10.3f} {r['unit']:<7} "
              f"ref={r['reference']!s:<8} goal {r['goal']:<10} {mark}")
    return 0 if all(r["passed"] is not False for r in rows) else 1


@register("trainer")
def bench_trainer(quick: bool) -> list[Row]:
    return adapt(run(quick))


if __name__ == "__main__":
    sys.exit(main())
