"""Benchmarks (not tests): each compares against a reference measured in the same run.

A bench module registers functions with `@register("name")`; each takes `quick: bool` and
returns rows `{name, value, unit, reference, goal, passed}` (`passed` None = informational).
`python -m bench [--quick] [names...]` runs them, prints one table and exits non-zero when a
goal is missed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Row = dict[str, Any]
BenchFn = Callable[[bool], list[Row]]

REGISTRY: dict[str, BenchFn] = {}


def register(name: str) -> Callable[[BenchFn], BenchFn]:
    def deco(fn: BenchFn) -> BenchFn:
        REGISTRY[name] = fn
        return fn

    return deco


def row(name: str, value: float | str, unit: str, reference: str = "", goal: str = "",
        passed: bool | None = None) -> Row:
    return {"name": name, "value": value, "unit": unit, "reference": reference, "goal": goal,
            "passed": passed}


def adapt(rows: list[dict[str, Any]], prefix: str = "") -> list[Row]:
    """Rows from a standalone bench's run() (numbers allowed in reference/goal) as table rows."""
    out = []
    for r in rows:
        ref, goal = r.get("reference"), r.get("goal")
        shown = "" if ref is None else f"{ref:,.4g}" if isinstance(ref, float) else str(ref)
        out.append(row(prefix + r["name"], r["value"], r["unit"], shown,
                       "" if goal is None else str(goal), r.get("passed")))
    return out


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile, q in [0, 1]; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q * len(ordered))) - 1))]


def rss_bytes(pid: int) -> int:
    """Resident set size of a process, from /proc/PID/status (Linux)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")
