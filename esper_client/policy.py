"""Which events survive when even the spool is full.

Levels are measured as unread spool bytes / spool_max_bytes:
  * level < 1: keep everything;
  * 1 <= level < 2: keep every essential event (esper_common.events.ESSENTIAL_TYPES: run and
    seed lifecycle, batch barriers, episode outcomes) and every k-th event of each other type
    (EPOCH_COMPLETED, PPO_UPDATE_COMPLETED, SYSTEM_VITALS, ...), so trends stay visible, thinned;
  * level >= 2: keep essential events only.
Every event not kept is counted; the count reaches sanctum as EventBatch.drops.
"""

from __future__ import annotations

from collections import Counter

from esper_common.events import ESSENTIAL_TYPES


class DropPolicy:
    """Decides per event whether to keep it at a given fill level; counts what it drops."""

    def __init__(self, keep_every: int) -> None:
        self.keep_every = keep_every
        self.dropped = 0
        self._seen: Counter[int] = Counter()

    def keep(self, event_type: int, level: float) -> bool:
        if level < 1.0 or event_type in ESSENTIAL_TYPES:
            return True
        if level < 2.0:
            n = self._seen[event_type]
            self._seen[event_type] = n + 1
            if n % self.keep_every == 0:
                return True
        self.dropped += 1
        return False
