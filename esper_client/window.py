"""The batches sent on the current IngestStream and not yet acknowledged, oldest first.

Sanctum acknowledges each batch of a stream in the order sent, once it is persisted; the
window is bounded (TelemetryConfig.max_unacked_batches) so a stalled sanctum holds at most
that many batches on the wire. Their events stay in the sender's buffer until acked.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from esper_client.spool import Item
from esper_client.stream import AckStream


@dataclass(slots=True)
class InFlight:
    """One batch on the stream."""

    number: int  # its position on the stream (IngestStreamResponse.batch)
    chunk: list[Item]
    resent: int  # how many of its events were sent before (see Sender._count_attempt)
    dropped: int  # the drop total it reported
    sent_at: float
    ends_send: bool  # the last batch of one send (counted as one call once acked)


class Window:
    """The open AckStream (or None) and its unacknowledged batches."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.stream: AckStream | None = None
        self.batches: deque[InFlight] = deque()
        #: Events in `batches` (the buffer's head holds them first).
        self.events = 0
        #: The highest drop total sent on this stream (not re-sent while it is in flight).
        self.drops_sent = 0
        self._next = 0

    @property
    def room(self) -> int:
        return self.limit - len(self.batches)

    def open(self, stream: AckStream, drops_reported: int) -> None:
        self.stream = stream
        self.drops_sent = drops_reported
        self._next = 0

    def send(self, request: bytes, chunk: list[Item], resent: int, dropped: int,
             now: float, ends_send: bool) -> None:
        assert self.stream is not None
        self.batches.append(InFlight(self._next, chunk, resent, dropped, now, ends_send))
        self._next += 1
        self.events += len(chunk)
        self.drops_sent = max(self.drops_sent, dropped)
        self.stream.send(request)

    def pop(self) -> InFlight:
        batch = self.batches.popleft()
        self.events -= len(batch.chunk)
        return batch

    def reset(self) -> list[list[Item]]:
        """Close the stream; the chunks that were never acknowledged."""
        if self.stream is not None:
            self.stream.close()
            self.stream = None
        chunks = [b.chunk for b in self.batches]
        self.batches.clear()
        self.events = 0
        return chunks
