"""Trainer benchmark: does Tamiyo learn, and what does telemetry cost the training loop?

(a) Learning: train with the default settings, then compare the mean episode reward of
    the trained policy with a uniform-random masked policy on the same eval envs/seeds.
(b) Overhead: training wall time with telemetry streaming to a real sanctum (a separate
    `esper-sanctum` process) vs NullTelemetry, interleaved repeats, median of each.

    python -m bench.bench_trainer [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from sanctum_svc.testing import SanctumProcess
from trainer_svc.config import TrainerConfig
from trainer_svc.evaluate import mean_episode_reward
from trainer_svc.telemetry import NullTelemetry, TelemetryClient, TelemetryConfig
from trainer_svc.train import Trainer

OVERHEAD_GOAL_PCT = 2.0
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


def _timed_run(cfg: TrainerConfig, target: str | None, spool: str, run_id: str,
               file_path: str | None = None) -> tuple[float, int]:
    """Training wall time (excluding the final flush) and events emitted."""
    if target is None and file_path is None:
        sink: Any = NullTelemetry()
    else:
        sink = TelemetryClient(TelemetryConfig(target=target, run_id=run_id,
                                               producer_id="bench", spool_dir=spool,
                                               file_path=file_path))
    sink.start()
    t0 = time.perf_counter()
    Trainer(cfg, sink).run()
    elapsed = time.perf_counter() - t0
    sink.close(30)
    return elapsed, int(sink.stats().get("emitted", 0))


def overhead_rows(quick: bool) -> list[dict[str, Any]]:
    """Null vs event file vs gRPC to a sanctum process, interleaved; medians compared.

    Sanctum runs on the same (small) machine here, so its ingest CPU competes with the
    trainer; the event-file row shows the client's own cost without a server beside it.
    """
    cfg = TrainerConfig(episodes=32 if quick else 80)
    repeats = 2 if quick else 5
    times: dict[str, list[float]] = {"off": [], "grpc": [], "file": []}
    emitted = 0
    with tempfile.TemporaryDirectory() as tmp:
        server = SanctumProcess(str(Path(tmp) / "bench.sqlite"))
        server.start()
        try:
            _timed_run(cfg, None, tmp, "warmup")  # warm caches/allocator before timing
            for i in range(repeats):  # interleaved: drift hits every variant alike
                t, emitted = _timed_run(cfg, server.address, tmp, f"bench-{i}")
                times["grpc"].append(t)
                times["off"].append(_timed_run(cfg, None, tmp, "")[0])
                times["file"].append(_timed_run(cfg, None, tmp, f"file-{i}",
                                                file_path=f"{tmp}/file-{i}.events")[0])
        finally:
            server.terminate()
    med = {k: statistics.median(v) for k, v in times.items()}
    rows = [row(f"trainer: wall time, telemetry off ({emitted} events/run when on)",
                med["off"], "s", None, "reference", None)]
    for kind, label in (("grpc", "gRPC to sanctum on the same host"), ("file", "event file")):
        pct = (med[kind] - med["off"]) / med["off"] * 100.0
        rows.append(row(f"trainer: telemetry overhead, {label}", pct, "%",
                        round(med["off"], 3), f"< {OVERHEAD_GOAL_PCT:.0f} %",
                        pct < OVERHEAD_GOAL_PCT))
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


if __name__ == "__main__":
    sys.exit(main())
