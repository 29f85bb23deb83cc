"""Trainer benchmark: does Tamiyo learn, and what does telemetry cost the training loop?

(a) Learning: train with the default settings, then compare the mean episode reward of
    the trained policy with a uniform-random masked policy on the same eval envs/seeds.
(b) The goal: telemetry overhead on the default run as esper-trainer ships it (its default
    config and sender choice, nothing pinned), paired with telemetry-off runs.
(c) The overhead taken apart: training wall time and process CPU time with telemetry
    streaming to a real sanctum (a separate `esper-sanctum` process) or to an event file vs
    NullTelemetry (which makes the loop build no events at all), sender thread vs sender
    process, the trainer on one CPU or split from its client, in interleaved pairs; the mean
    of the paired overheads with its 95 % bootstrap interval. Then the precise parts: the
    client's CPU on its own threads (process CPU minus the training thread's CPU clock, so
    gRPC's C threads count too), and the training thread's telemetry work (capturing
    events, seed gradient norms, the sink calls) timed per call on its CPU clock.

    python -m bench.bench_trainer [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import os
import random
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import torch

from bench import Row, adapt, register
from esper_client import NullTelemetry, TelemetryClient, TelemetryConfig
from esper_client.config import spare_cpu, usable_cpus
from testkit import SanctumProcess
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


@dataclasses.dataclass
class Measured:
    """One timed training run (the final flush excluded)."""

    wall: float  # training wall time
    cpu: float  # the training process's CPU time, all threads
    background: float  # of which outside the training thread (the client's threads)
    child: float  # CPU time of the client's sender process (process mode), else 0
    emitted: int


def _timed_run(cfg: TrainerConfig, target: str | None, spool: str, run_id: str,
               file_path: str | None = None, process: bool | Literal["auto"] = False,
               client_cpus: set[int] | None = None) -> Measured:
    """Train once with telemetry off (no target, no file), to an event file or to sanctum;
    `process`: the client's sender in a child process. `client_cpus`: the CPUs for the
    client's threads and child process (the training thread keeps its own)."""
    if target is None and file_path is None:
        sink: Any = NullTelemetry()
    else:
        sink = TelemetryClient(TelemetryConfig(target=target, run_id=run_id,
                                               producer_id="bench", spool_dir=spool,
                                               file_path=file_path, sender_process=process))
    with _client_cpus(client_cpus):  # what start() creates inherits these CPUs
        sink.start()
        sidecar = getattr(sink, "_sidecar", None)
        if sidecar is not None:
            sidecar.ready.wait(30)  # a once-per-run start-up, not the training's cost
    child0 = _child_cpu(sink)
    c0, m0, t0 = _cpu_s(), time.thread_time(), time.perf_counter()
    Trainer(cfg, sink).run()
    elapsed, cpu = time.perf_counter() - t0, _cpu_s() - c0
    background = cpu - (time.thread_time() - m0)
    child = _child_cpu(sink) - child0
    sink.close(30)
    stats = sink.stats()
    if stats:
        assert stats["acked"] == stats["emitted"], stats  # nothing lost on the way
    return Measured(elapsed, cpu, background, child, int(stats.get("emitted", 0)))


def _child_cpu(sink: Any) -> float:
    """CPU seconds of the client's sender process so far (0 without one)."""
    sidecar = getattr(sink, "_sidecar", None)
    return sidecar.stats()["cpu_ns"] / 1e9 if sidecar is not None else 0.0


@contextlib.contextmanager
def _client_cpus(cpus: set[int] | None) -> Iterator[None]:
    """The calling thread on `cpus` while active (threads and processes it starts keep
    them), then back on its own."""
    if cpus is None:
        yield
        return
    tid = threading.get_native_id()
    own = os.sched_getaffinity(tid)
    os.sched_setaffinity(tid, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(tid, own)


@contextlib.contextmanager
def timed_telemetry(sink: Any, spent: list[float]) -> Iterator[None]:
    """Add to spent[0] the time in Trainer's telemetry methods and in sink calls made
    outside them (outermost calls only)."""
    depth = [0]

    def timed(f: Any) -> Any:
        @functools.wraps(f)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if depth[0]:  # inside a timed call: no clock reads of its own to add
                return f(*args, **kwargs)
            depth[0] = 1
            t0 = time.thread_time()
            try:
                return f(*args, **kwargs)
            finally:
                depth[0] = 0
                spent[0] += time.thread_time() - t0
        return wrapper

    names = [n for n in vars(Trainer) if n.startswith("_emit") or n == "_maybe_vitals"]
    originals = {n: vars(Trainer)[n] for n in names}
    for n, f in originals.items():
        setattr(Trainer, n, timed(f))
    for n in ("emit", "emit_deferred"):
        if hasattr(sink, n):
            setattr(sink, n, timed(getattr(sink, n)))
    try:
        yield
    finally:
        for n, f in originals.items():
            setattr(Trainer, n, f)


def training_thread_cost(cfg: TrainerConfig, spool: str, runs: int) -> tuple[float, float]:
    """What telemetry costs the training thread itself: the Trainer's telemetry methods
    (capturing events, the seed gradient norms they read) and the sink calls made outside
    them, on the thread's CPU clock, over `runs` runs to an event file. Returns (µs per event,
    % of the run's other training-thread CPU), medians. Precise where the paired wall-time
    comparison drowns in the machine's noise."""
    per_event, pct = [], []
    for i in range(runs):
        sink = TelemetryClient(TelemetryConfig(target=None, run_id=f"cost-{i}",
                                               producer_id="bench", spool_dir=spool,
                                               file_path=f"{spool}/cost-{i}.events"))
        sink.start()
        spent = [0.0]
        m0 = time.thread_time()
        with timed_telemetry(sink, spent):
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
def own_cpu(server_pid: int) -> Iterator[tuple[str, int | None, set[int]]]:
    """With 2+ CPUs: this process (training and the telemetry client) on one CPU, sanctum on
    the others, standing in for sanctum on another host; restored afterwards. Yields how the
    CPUs were split (for the report), the trainer's CPU and the others (where a client may
    run its threads and sender process: on 2 CPUs, beside sanctum)."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2 or not os.path.isdir(f"/proc/{server_pid}/task"):
        yield "trainer and sanctum share the CPUs", None, set()
        return
    _pin(server_pid, set(cpus[1:]))
    _pin(os.getpid(), {cpus[0]})
    try:
        yield (f"trainer on CPU {cpus[0]}, sanctum on {len(cpus) - 1} other(s)", cpus[0],
               set(cpus[1:]))
    finally:
        _pin(os.getpid(), set(cpus))


#: Telemetry variants of a round, each run right after its own telemetry-off run (ABAB):
#: (key, placement, mode). Placement "one": the whole trainer process (the client's threads
#: and its sender process too) on one CPU, the worst case; "split": the training thread on
#: one CPU, the client's threads and sender process on the other(s), as on a trainer host
#: with spare cores.
VARIANTS = (("thread", "one", "grpc"), ("process", "one", "grpc"), ("file", "one", "file"),
            ("thread", "split", "grpc"), ("process", "split", "grpc"))
PLACEMENTS = {"one": "whole trainer process on one CPU",
              "split": "training thread on one CPU, client threads/process on the other(s)"}


def shipped_rows(quick: bool, rounds: int | None = None) -> list[dict[str, Any]]:
    """The goal: telemetry overhead on the default run as `esper-trainer --sanctum` ships it.

    TrainerConfig's defaults, the sender chosen as the trainer chooses it (`--sender auto`:
    a child process with 2+ usable CPUs), trainer and sanctum on this machine's CPUs with no
    pinning (as `make run` starts them). Paired ABAB rounds against telemetry off, the order
    alternating by round; the mean paired overhead with its 95 % bootstrap interval.
    """
    cfg = TrainerConfig()
    rounds = rounds or (3 if quick else 8)
    chosen = "process" if spare_cpu() else "thread"
    pairs: list[tuple[Measured, Measured]] = []
    with tempfile.TemporaryDirectory() as tmp, \
            SanctumProcess(str(Path(tmp) / "shipped.sqlite")) as server:
        _timed_run(TrainerConfig(episodes=16), server.address, tmp, "shipped-warmup",
                   process="auto")
        for i in range(rounds):
            runs = {}
            for which in (("off", "on") if i % 2 == 0 else ("on", "off")):
                runs[which] = _timed_run(cfg, None if which == "off" else server.address,
                                         tmp, f"shipped-{i}", process="auto")
            pairs.append((runs["on"], runs["off"]))
    pcts = [(on.wall - off.wall) / off.wall * 100.0 for on, off in pairs]
    mean = statistics.fmean(pcts)
    where = (f"default run ({cfg.episodes} episodes, {pairs[0][0].emitted} events), "
             f"sender {chosen} (auto, {usable_cpus()} usable CPUs), nothing pinned")
    cpu = [on.child / (off.cpu - off.background) * 100.0 for on, off in pairs]
    own = [((on.cpu - on.background) - (off.cpu - off.background))
           / (off.cpu - off.background) * 100.0 for on, off in pairs]
    return [
        row("trainer: wall time, default run, telemetry off", statistics.median(
            off.wall for _, off in pairs), "s", f"{rounds} rounds, median", "reference",
            None),
        row(f"trainer: telemetry overhead, wall time, as shipped: {where}", mean, "%",
            _interval(pcts), f"< {OVERHEAD_GOAL_PCT:g} %", mean < OVERHEAD_GOAL_PCT),
        row("trainer: training thread's own CPU, on vs off, as shipped",
            statistics.fmean(own), "%", _interval(own), "", None),
        row("trainer: client CPU in its sender process, as shipped", statistics.fmean(cpu),
            "% of training", _interval(cpu), "", None),
    ]


def overhead_rows(quick: bool, rounds: int | None = None) -> list[dict[str, Any]]:
    """Telemetry off vs on, interleaved rounds: sender thread vs sender process, gRPC to a
    sanctum process (and the event file), for both placements (VARIANTS).

    Each variant is paired with the telemetry-off run right before it, so slow drift on a
    shared machine hits both sides of a pair alike (and the order of variants rotates by
    round); the mean over rounds of the paired overheads is reported with its 95 %
    bootstrap interval. Sanctum gets CPUs of its own when there are 2+ (`own_cpu`), as
    when it runs on another host: otherwise its ingest CPU would be counted as the
    client's. The CPU rows show what the client costs on its own
    threads (inside the training process) and in its sender process (outside it).
    """
    cfg = TrainerConfig(episodes=32 if quick else 64)
    rounds = rounds or (3 if quick else 12)
    runs: dict[tuple[str, str, str], list[tuple[Measured, Measured]]] = {
        v: [] for v in VARIANTS}
    emitted = 0
    with tempfile.TemporaryDirectory() as tmp:
        server = SanctumProcess(str(Path(tmp) / "bench.sqlite"))
        server.start()
        assert server.proc is not None
        try:
            with own_cpu(server.proc.pid) as (placement, trainer_cpu, other_cpus):
                client_cpus = {"one": None, "split": other_cpus or None}
                _timed_run(cfg, None, tmp, "warmup")  # warm caches/allocator before timing
                for mode in (False, True):
                    _timed_run(cfg, server.address, tmp, f"warmup-{mode}", process=mode)
                for i in range(rounds):
                    # Each round starts at the next variant, so no variant always follows
                    # the same one (what a run leaves behind, e.g. sanctum still busy).
                    k = i % len(VARIANTS)
                    for key, where, sink in VARIANTS[k:] + VARIANTS[:k]:
                        off = _timed_run(cfg, None, tmp, "off")
                        on = _timed_run(
                            cfg, server.address if sink == "grpc" else None, tmp,
                            f"bench-{key}-{where}-{sink}-{i}",
                            f"{tmp}/file-{i}.events" if sink == "file" else None,
                            process=key == "process", client_cpus=client_cpus[where])
                        runs[(key, where, sink)].append((on, off))
                        emitted = max(emitted, on.emitted)
                cost_us, cost_pct = training_thread_cost(cfg, tmp, 2 if quick else 3)
        finally:
            server.terminate()
    offs = [off.wall for pairs in runs.values() for _, off in pairs]
    rows = [row(f"trainer: wall time, telemetry off ({emitted} events/run when on)",
                statistics.median(offs), "s", f"{rounds} rounds, median; {placement}",
                "reference", None)]
    split_ok = trainer_cpu is not None and bool(other_cpus)
    for (key, where, sink), pairs in runs.items():
        if where == "split" and not split_ok:
            continue
        what = "event file" if sink == "file" else f"gRPC, sender {key}"
        label = f"{what}, {PLACEMENTS[where]}"
        for measure, get in (("wall", lambda m: m.wall), ("CPU", lambda m: m.cpu)):
            pcts = [(get(on) - get(off)) / get(off) * 100.0 for on, off in pairs]
            mean = statistics.fmean(pcts)
            rows.append(row(f"trainer: telemetry overhead, {measure} time, {label}", mean,
                            "%", _interval(pcts), "", None))
        # The training thread's own CPU, on vs off: building and emit(), and whatever else
        # telemetry makes it do (capturing values, lost caches, GIL hand-overs).
        pcts = [((on.cpu - on.background) - (off.cpu - off.background))
                / (off.cpu - off.background) * 100.0 for on, off in pairs]
        rows.append(row(f"trainer: training thread's own CPU, on vs off, {label}",
                        statistics.fmean(pcts), "%", _interval(pcts), "", None))
        # CPU the client adds on threads of its own inside the training process, and in
        # its sender process, relative to the training thread's CPU in the paired off run.
        pcts = [(on.background - off.background) / (off.cpu - off.background) * 100.0
                for on, off in pairs]
        rows.append(row(f"trainer: client CPU on its own threads (in the training process), "
                        f"{label}", statistics.fmean(pcts), "% of training", _interval(pcts),
                        "", None))
        if key == "process":
            pcts = [on.child / (off.cpu - off.background) * 100.0 for on, off in pairs]
            rows.append(row(f"trainer: client CPU off the training process (sender process), "
                            f"{label}", statistics.fmean(pcts), "% of training",
                            _interval(pcts), "", None))
    rows.append(row("trainer: telemetry work on the training thread", cost_pct,
                    "% of training", f"{cost_us:.1f} us/event, timed per call", "", None))
    return rows


def run(quick: bool = False, rounds: int | None = None) -> list[dict[str, Any]]:
    """Rows {name, value, unit, reference, goal, passed} for the bench table."""
    torch.set_num_threads(1)
    return learning_rows(quick) + shipped_rows(quick, rounds) + overhead_rows(quick, rounds)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="shorter runs, fewer repeats")
    p.add_argument("--rounds", type=int, metavar="N",
                   help="paired rounds of the overhead comparison (default 3 quick, 12)")
    ns = p.parse_args(argv)
    rows = run(ns.quick, ns.rounds)
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
