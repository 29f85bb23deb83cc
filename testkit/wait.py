"""Waiting for a condition with a deadline: what a test does instead of sleeping a fixed
time and then asserting (a loaded machine is slow, not wrong, so the deadline is generous and
only a condition that never comes costs the whole of it)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

#: Long enough for a 2-core CI machine under load; a passing test never waits this long.
DEFAULT_TIMEOUT_S = 30.0


def wait_until(fetch: Callable[[], T], ok: Callable[[T], bool],
               timeout: float = DEFAULT_TIMEOUT_S, every: float = 0.05) -> T:
    """Poll `fetch` until `ok(value)`; return the value (the last one if time ran out, for
    the caller's assertion to show)."""
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if ok(value) or time.monotonic() > deadline:
            return value
        time.sleep(every)


def wait_for(predicate: Callable[[], object], timeout: float = DEFAULT_TIMEOUT_S,
             what: str = "the condition", every: float = 0.02) -> None:
    """Return once `predicate()` is true; fail the test if it is not within `timeout`."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what} not reached in {timeout:g} s"
        time.sleep(every)
