"""`python -m bench.calibrate_health [--seeds 5]`: calibrate sanctum's health rules.

Healthy: default trainings (the real `esper-trainer`, one per seed) written to event files
and replayed through a real RunAggregator; per rule, the share of post-warm-up PPO updates
on which it fired, and the share on which the banner was OK (goals: OK >= 95 %, no rule
> 2 %); the share of updates whose gradient CV band is not "stable" (goal <= 2 %). Faults:
real trainer runs with an absurd learning rate (exploding gradients), NaN injected into the
loss (non-finite), every head's gradient but op's zeroed (gradient CV band BAD), entropy
coefficient 0 over a long run (collapse), a trainer stopped with SIGSTOP while streaming to a
real sanctum (stall); constructed event sequences for the rest (testkit.health_faults).
Prints one table; exits 1 when a goal is missed or a fault did not fire its rule.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.sanctum.v2 import sanctum_pb2_grpc as spb_grpc
from esper_common.eventfile import read_batches
from esper_common.health_rules import BY_ID, RULES
from sanctum_svc.health.replay import Replay, replay
from testkit.health_faults import CONSTRUCTED
from testkit.servers import ThreadedSanctum

TRAINER = [sys.executable, "-m", "trainer_svc"]
OK_GOAL, RULE_GOAL = 0.95, 0.02


def trainer_run(out: Path, name: str, *args: str) -> Replay:
    """Run the real trainer to an event file and replay it through a real aggregator."""
    path = out / f"{name}.events"
    done = subprocess.run([*TRAINER, "--quiet", "--events-file", str(path), "--run-id", name,
                           *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"esper-trainer {' '.join(args)} failed:\n{done.stderr}")
    return replay(e for b in read_batches(path) for e in b.events)


def stall_fires(wait_s: float) -> bool:
    """A trainer streaming to a real sanctum, SIGSTOPped after its first PPO update: does
    the snapshot carry a `stall` finding `wait_s` later?"""
    server = ThreadedSanctum().start()
    proc = subprocess.Popen([*TRAINER, "--quiet", "--sanctum", server.address, "--run-id",
                             "stall", "--episodes", "4000"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        with grpc.insecure_channel(server.address) as ch:
            stub = spb_grpc.SanctumServiceStub(ch)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    snap = stub.GetSnapshot(spb.GetSnapshotRequest(run_id="stall"), timeout=5)
                    if snap.snapshot.health.evaluated_updates:
                        break
                except grpc.RpcError:
                    pass
                time.sleep(0.5)
            os.kill(proc.pid, signal.SIGSTOP)
            time.sleep(wait_s)
            snap = stub.GetSnapshot(spb.GetSnapshotRequest(run_id="stall"), timeout=5)
            return any(f.rule_id == "stall" for f in snap.snapshot.health.findings)
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        proc.kill()
        proc.wait()
        server.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.calibrate_health",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=5, help="healthy default runs (default 5)")
    ap.add_argument("--episodes", type=int, default=160,
                    help="episodes per healthy run (default: the trainer's default, 160)")
    ap.add_argument("--collapse-episodes", type=int, default=800,
                    help="episodes of the entropy-coefficient-0 run (default 800)")
    ap.add_argument("--no-stall", action="store_true", help="skip the SIGSTOP stall fault")
    args = ap.parse_args(argv)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="esper-calibrate-") as tmp:
        out = Path(tmp)
        healthy: list[Replay] = []
        for seed in range(args.seeds):
            print(f"healthy run seed {seed}…", file=sys.stderr, flush=True)
            healthy.append(trainer_run(out, f"healthy-{seed}", "--seed", str(seed),
                                       "--episodes", str(args.episodes)))
        faults: dict[str, tuple[str, bool]] = {}
        print("fault runs…", file=sys.stderr, flush=True)
        lr = trainer_run(out, "lr", "--lr", "100")
        faults["exploding_gradients"] = ("real trainer, --lr 100", lr.ever("exploding_gradients"))
        faults["dead_layers"] = ("real trainer, --lr 100", lr.ever("dead_layers"))
        faults["seeds_all_pruned"] = ("real trainer, --lr 100", lr.ever("seeds_all_pruned"))
        dead = trainer_run(out, "dead-heads", "--inject-dead-heads-update", "12")
        nan = trainer_run(out, "nan", "--inject-nan-update", "12")
        faults["nonfinite"] = ("real trainer, --inject-nan-update 12", nan.ever("nonfinite"))
        ent = trainer_run(out, "collapse", "--entropy-coef", "0", "--entropy-coef-end", "none",
                          "--episodes", str(args.collapse_episodes))
        faults["entropy_collapse"] = (
            f"real trainer, --entropy-coef 0, {args.collapse_episodes} episodes",
            ent.ever("entropy_collapse"))
        if not args.no_stall:
            wait = BY_ID["stall"].warning or 30.0
            faults["stall"] = (f"real trainer SIGSTOPped {wait + 5:.0f} s, real sanctum",
                               stall_fires(wait + 5))
        for rule_id, (what, events) in CONSTRUCTED.items():
            if rule_id not in faults or not faults[rule_id][1]:
                faults[rule_id] = (f"constructed: {what}", replay(events()).ever(rule_id))
    n = sum(len(r.after_warmup()) for r in healthy)
    rows = [("rule", "healthy firing rate", "fault", "fired")]
    failed = False
    for rule in RULES:
        fired = sum(sum(rule.id in r.fired[i] for i in r.after_warmup()) for r in healthy)
        rate = fired / n if n else 0.0
        what, ok = faults.get(rule.id, ("—", False))
        failed |= rate > RULE_GOAL or not ok
        rows.append((rule.id, f"{rate:.1%} ({fired}/{n})", what, "yes" if ok else "NO"))
    # The gradient CV display band: a healthy update reads "stable" (same goal as a rule).
    flagged = sum(sum(any(b != "stable" for b in r.bands[i].values()) for i in range(len(r.bands)))
                  for r in healthy)
    sampled = sum(sum(bool(b) for b in r.bands) for r in healthy)
    rate = flagged / sampled if sampled else 0.0
    bad = any("BAD" in b.values() for b in dead.bands)
    failed |= rate > RULE_GOAL or not bad
    rows.append(("gradient_cv band (display)", f"{rate:.1%} ({flagged}/{sampled}) not stable",
                 "real trainer, --inject-dead-heads-update 12", "BAD" if bad else "NO"))
    ok_n = sum(sum(r.statuses[i] == spb.HEALTH_STATUS_OK for i in r.after_warmup())
               for r in healthy)
    ok_rate = ok_n / n if n else 0.0
    failed |= ok_rate < OK_GOAL
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for j, row in enumerate(rows):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
        if j == 0:
            print("  ".join("-" * w for w in widths))
    print(f"\nbanner OK on {ok_rate:.1%} of {n} post-warm-up updates of {args.seeds} healthy "
          f"runs (goal >= {OK_GOAL:.0%}; no rule > {RULE_GOAL:.0%}); "
          f"{time.monotonic() - started:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
