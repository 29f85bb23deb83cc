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


def row(name: str, value: float, unit: str, reference: str = "", goal: str = "",
        passed: bool | None = None) -> Row:
    return {"name": name, "value": value, "unit": unit, "reference": reference, "goal": goal,
            "passed": passed}
