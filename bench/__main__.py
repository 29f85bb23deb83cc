"""`python -m bench [--quick] [NAME ...]`: run registered benchmarks, print one table."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import pkgutil
import platform
import sys
import time
import traceback
from pathlib import Path

import bench
from bench import REGISTRY, Row
from bench.goals import format_goals

#: Modules every bench needs; missing ones mean this Python is not the project's venv.
NEEDED = ("grpc", "google.protobuf", "torch", "textual", "esper.sanctum.v2")


def missing_environment() -> str | None:
    """Why this interpreter cannot run the benches (not the project's venv), or None."""
    missing = []
    for name in NEEDED:
        try:
            found = importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            missing.append(name)
    if not missing:
        return None
    venv = Path(__file__).resolve().parents[1] / ".venv"
    return (f"{sys.executable} lacks the project's packages ({', '.join(missing)}): it is not "
            f"the project's environment. Run `make bench` / `make bench-quick`, or "
            f"`{venv}/bin/python -m bench ...`, or `source {venv}/bin/activate` first "
            "(`make setup` creates it)")


def discover() -> list[str]:
    """Import every bench/bench_*.py so its @register calls run; report import failures."""
    failed = []
    for mod in pkgutil.iter_modules(bench.__path__):
        if mod.name.startswith("bench_"):
            try:
                importlib.import_module(f"bench.{mod.name}")
            except Exception as exc:  # one broken bench must not hide the others
                failed.append(f"{mod.name}: {exc}")
    return failed


def format_table(rows: list[Row]) -> str:
    head = ("benchmark", "value", "unit", "reference", "goal", "ok")
    body = []
    for r in rows:
        value = r["value"]
        shown = f"{value:,.3g}" if isinstance(value, float) and abs(value) < 1000 else (
            f"{value:,.0f}" if isinstance(value, (int, float)) else str(value))
        ok = {True: "yes", False: "NO", None: "-"}[r.get("passed")]
        body.append((r["name"], shown, r["unit"], str(r.get("reference", "")),
                     str(r.get("goal", "")), ok))
    widths = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True))
             for line in [head, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def header(quick: bool, seconds: float) -> str:
    """Machine and mode line above the table (figures only compare on the same machine)."""
    cores = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    return (f"# python -m bench{' --quick' if quick else ''}: {time.strftime('%Y-%m-%d %H:%M')}, "
            f"{cores} cores ({usable} usable), {platform.machine()}, "
            f"Python {platform.python_version()}, load {os.getloadavg()[0]:.1f}, "
            f"{seconds:.0f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (CI smoke)")
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    args = parser.parse_args(argv)
    problem = missing_environment()
    if problem is not None:
        print(f"bench: {problem}", file=sys.stderr)
        return 2
    for problem in discover():
        print(f"bench: could not import {problem}", file=sys.stderr)
    names = args.names or sorted(REGISTRY)
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        print(f"bench: unknown {unknown}; known: {sorted(REGISTRY)}", file=sys.stderr)
        return 2
    rows: list[Row] = []
    errors = 0
    started = time.monotonic()
    for name in names:
        print(f"bench: running {name} ...", file=sys.stderr, flush=True)
        t0 = time.monotonic()
        try:
            rows += REGISTRY[name](args.quick)
        except Exception:
            errors += 1
            traceback.print_exc()
        print(f"bench: {name} took {time.monotonic() - t0:.1f} s", file=sys.stderr, flush=True)
    report = "\n".join([header(args.quick, time.monotonic() - started), format_table(rows), "",
                        format_goals(rows, names)])
    print(report)
    out = Path(__file__).parent / "results" / "latest.txt"
    try:
        out.parent.mkdir(exist_ok=True)
        out.write_text(report + "\n", encoding="utf-8")
        print(f"bench: table written to {out}", file=sys.stderr)
    except OSError as exc:
        print(f"bench: could not write {out}: {exc}", file=sys.stderr)
    missed = [r["name"] for r in rows if r.get("passed") is False]
    if missed:
        print(f"bench: goal missed: {', '.join(missed)}", file=sys.stderr)
    return 1 if missed or errors else 0


if __name__ == "__main__":
    sys.exit(main())
