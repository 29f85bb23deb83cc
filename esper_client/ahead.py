"""Events a sender finished out of order (rejected, dropped, or saved or lost at close) that
lie past the point its owner may forget (the sender process's `safe`, see esper_client.sidecar).

The training process keeps every event after `safe` and hands those to the next sender if
this one dies; the next sender counts them again when it finishes them. So a dying sender's
counts must cover the events up to `safe` only: its counters minus what this ledger holds
past `safe`. Bound: one entry per such event, and every one of them is also held by the
training process, whose unsafe tail counts against TelemetryConfig.ingress_max_events
(essential events aside).
"""

from __future__ import annotations

import heapq

#: The outcomes recorded, as the page names their counts past `safe`.
KINDS = ("rejected", "dropped", "undelivered", "lost")
REJECTED, DROPPED, UNDELIVERED, LOST = range(len(KINDS))


class Ahead:
    """A heap of (seq, kind) for counted events not yet covered by `safe`."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, int]] = []
        self._count = [0] * len(KINDS)

    def add(self, kind: int, seq: int) -> None:
        """Record one event counted under KINDS[kind]."""
        heapq.heappush(self._heap, (seq, kind))
        self._count[kind] += 1

    def past(self, safe: int) -> dict[str, int]:
        """Forget entries covered by `safe` (it only grows); the counts of the others, as
        `<kind>_ahead`."""
        heap, count = self._heap, self._count
        while heap and heap[0][0] <= safe:
            count[heapq.heappop(heap)[1]] -= 1
        return {f"{name}_ahead": n for name, n in zip(KINDS, count, strict=True)}
