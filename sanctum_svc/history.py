"""Bounded repeated fields kept directly in generated messages.

A repeated field grows to twice its limit before the oldest half is dropped, so an
append costs O(1) amortised; readers call `trim` on their copy to see exactly `limit`.
"""

from __future__ import annotations

from typing import Any


def push(field: Any, value: float, limit: int) -> None:
    """Append a scalar to a repeated field, keeping at most ~2×limit entries."""
    field.append(value)
    if len(field) >= 2 * limit:
        del field[: len(field) - limit]


def push_message(field: Any, limit: int) -> Any:
    """Add a new element to a repeated message field (bounded like `push`); return it."""
    if len(field) >= 2 * limit - 1:
        del field[: len(field) - limit + 1]
    return field.add()


def trim(field: Any, limit: int) -> None:
    """Keep only the newest `limit` entries of a repeated field."""
    extra = len(field) - limit
    if extra > 0:
        del field[:extra]
