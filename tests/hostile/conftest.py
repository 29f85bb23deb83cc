"""Hostile-input suite: a live sanctum per module, and a count of the generated cases tried.

Every property test calls `count_case(name)` once per generated example; the total is
written to the terminal summary (the closing note of issue 7 quotes it).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from testkit import ThreadedSanctum

#: Generated cases tried, per test name (filled by count_case).
CASES: Counter[str] = Counter()

#: ESPER_HOSTILE_SCALE=10 runs ten times as many generated cases (a longer soak).
SCALE = max(0.1, float(os.environ.get("ESPER_HOSTILE_SCALE", "1")))


def examples(n: int) -> settings:
    """Hypothesis settings for a live-server property: deterministic, no deadline (the
    machine is shared), `n` examples (times ESPER_HOSTILE_SCALE)."""
    return settings(max_examples=max(1, int(n * SCALE)), deadline=None, derandomize=True,
                    database=None, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


def count_case(name: str) -> None:
    CASES[name] += 1


@pytest.fixture(scope="module")
def live() -> Iterator[ThreadedSanctum]:
    """One real sanctum (in-memory store) shared by a module's property tests."""
    with ThreadedSanctum() as server:
        yield server


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not CASES:
        return
    total = sum(CASES.values())
    terminalreporter.write_sep("-", f"hostile suite: {total} generated cases tried")
    for name, n in sorted(CASES.items()):
        terminalreporter.write_line(f"  {n:6d}  {name}")
