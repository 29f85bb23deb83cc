"""The sender's ordered outbox: in-flight head, spool on disk, newest events in memory.

Order is always head < spool < memory. New events join the memory tail; when it holds more
than `memory_limit` events they spill, oldest first, to the spool (through the drop policy,
so disk stays bounded too). The sender takes events from the front into the head, sends them,
and acknowledges by seq; nothing leaves the head until sanctum has confirmed it.
"""

from __future__ import annotations

import logging
from collections import deque
from itertools import islice

from esper_client.ahead import DROPPED, Ahead
from esper_client.policy import DropPolicy
from esper_client.spool import Item, Spool
from esper_common.events import ESSENTIAL_TYPES

log = logging.getLogger("esper_client")


class OutBuffer:
    """Bounded-memory FIFO of serialized events with spill-to-disk and a drop policy."""

    def __init__(
        self, memory_limit: int, spool: Spool, spool_max_bytes: int, policy: DropPolicy,
        spill_chunk: int = 64,
    ) -> None:
        self.memory_limit = memory_limit
        self.spool = spool
        self.spool_max_bytes = spool_max_bytes
        self.policy = policy
        self.spill_chunk = spill_chunk
        self.head: deque[Item] = deque()
        self.mem: deque[Item] = deque()
        self.spooled = 0
        #: The highest seq acknowledged and counted so far: the last event taken off the
        #: head by an ack (a cursor ahead of what was taken moves it no further), so every
        #: event up to it has left the outbox.
        self.acked_through = 0
        #: Where dropped events' seqs are recorded (the sender process; else None).
        self.ahead: Ahead | None = None
        self._spool_broken = False

    def __len__(self) -> int:
        return len(self.head) + self.spool.unread_events + len(self.mem)

    @property
    def dropped(self) -> int:
        return self.policy.dropped

    def push(self, item: Item) -> None:
        """Append one event at the tail; spills to the spool when memory is full."""
        if len(self.mem) < self.memory_limit:
            self.mem.append(item)
            return
        if self._spool_broken:
            # No disk to spill to: keep essential events in memory, drop the rest (counted).
            if self._keep(item, 2.0):
                self.mem.append(item)
            return
        self.mem.append(item)
        self._spill()

    def extend(self, items: list[Item]) -> None:
        """`push` each of `items`, in order (one call while memory has room for all)."""
        if len(self.mem) + len(items) <= self.memory_limit:
            self.mem.extend(items)
            return
        for item in items:
            self.push(item)

    def take(self, n: int, skip: int = 0) -> list[Item]:
        """Up to n events after the first `skip` (those already in flight), moved into the
        head (still unacknowledged)."""
        n += skip
        if not self.spool.unread_events and len(self.head) + len(self.mem) <= n:
            self.head.extend(self.mem)  # everything fits: move it in one call
            self.mem.clear()
        while len(self.head) < n:
            if self.spool.unread_events:
                self.head.extend(self.spool.read())
            elif self.mem:
                self.head.append(self.mem.popleft())
            else:
                break
        return list(islice(self.head, skip, n))

    def ack_through(self, seq: int) -> int:
        """Forget every head event with seq <= `seq`; returns how many were acknowledged."""
        n = last = 0
        head = self.head
        while head and head[0][0] <= seq:
            last = head.popleft()[0]
            n += 1
        if last > self.acked_through:  # the head is in seq order
            self.acked_through = last
        self.spool.ack_through(seq)
        if self._spool_broken and not self.mem and not self.spool.unread_events:
            self._spool_broken = False  # drained: try the disk again next time
        return n

    def discard(self, seqs: set[int]) -> list[int]:
        """Remove the given events from the head (rejected by sanctum); returns their seqs."""
        gone = [item[0] for item in self.head if item[0] in seqs]
        if gone:
            self.head = deque(item for item in self.head if item[0] not in seqs)
        return gone

    def drain_all(self) -> list[Item]:
        """Everything still buffered, in order (for writing leftovers at close)."""
        out = list(self.head)
        self.head.clear()
        while self.spool.unread_events:
            out.extend(self.spool.read())
        out.extend(self.mem)
        self.mem.clear()
        return out

    def _spill(self) -> None:
        """Move the memory tail to the spool, applying the drop policy by spool fill level."""
        items = list(self.mem)
        self.mem.clear()
        kept: list[Item] = []
        i = 0
        try:
            for i, item in enumerate(items):  # noqa: B007 - i is used after an OSError
                level = self.spool.unread_bytes / self.spool_max_bytes
                if self._keep(item, level):
                    kept.append(item)
                    if len(kept) >= self.spill_chunk:
                        self.spool.append(kept)
                        self.spooled += len(kept)
                        kept = []
            i = len(items)
            if kept:
                self.spool.append(kept)
                self.spooled += len(kept)
                kept = []
        except OSError as exc:
            self._spool_broken = True
            log.error(
                "telemetry spool %s is not writable (%s): keeping essential events in memory, "
                "dropping the others (counted and reported to sanctum)", self.spool.directory, exc,
            )
            for item in kept:  # passed the policy but never reached the disk
                if item[1] in ESSENTIAL_TYPES:
                    self.mem.append(item)
                else:
                    self.policy.dropped += 1
                    if self.ahead is not None:
                        self.ahead.add(DROPPED, item[0])
            for item in items[i + 1 if i < len(items) else len(items):]:
                if self._keep(item, 2.0):
                    self.mem.append(item)

    def _keep(self, item: Item, level: float) -> bool:
        """The drop policy's verdict on `item`; a drop is recorded in `ahead`."""
        if self.policy.keep(item[1], level):
            return True
        if self.ahead is not None:
            self.ahead.add(DROPPED, item[0])
        return False
