"""Periodic aggregator checkpoints of a live sanctum.

After a batch is applied, `CheckpointScheduler.after_apply` checks whether a checkpoint is
due (every `every_events` events or `every_s` seconds with something new, whichever comes
first); if so it captures one on the event loop (only runs changed since the previous
checkpoint are serialized again: sanctum_svc.checkpoint.Checkpointer) and queues its write
on the store thread, behind the batches it covers. The store keeps the newest `keep` and
deletes older ones in the same transaction. One more is written on a clean stop, so the
next start replays nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from sanctum_svc.checkpoint import Checkpointer
from sanctum_svc.ingest import IngestPipeline
from sanctum_svc.store import EventStore, StoreError
from sanctum_svc.store_thread import AsyncStore

log = logging.getLogger(__name__)


@dataclass
class CheckpointPolicy:
    """When to checkpoint; 0 turns a trigger off (both 0: never)."""

    every_events: int = 100_000
    every_s: float = 600.0
    keep: int = 2

    @property
    def enabled(self) -> bool:
        return self.every_events > 0 or self.every_s > 0


class CheckpointScheduler:
    """Writes checkpoints of one pipeline to its store as the policy says."""

    def __init__(self, pipeline: IngestPipeline, store: EventStore, astore: AsyncStore,
                 policy: CheckpointPolicy, clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self.pipeline = pipeline
        self.store = store
        self.astore = astore
        self.policy = policy
        self.clock = clock
        self.checkpointer = Checkpointer()
        #: events_held and the clock when the last checkpoint was taken.
        self._events = pipeline.events_held
        self._at = clock()
        self._writing: asyncio.Future[None] | None = None
        self.written = 0

    def mark_restored(self, events: int) -> None:
        """The state holds a checkpoint of `events` events (restored at start)."""
        self._events = events
        self._at = self.clock()

    def due(self) -> bool:
        new = self.pipeline.events_held - self._events
        if new <= 0:
            return False
        p = self.policy
        return (p.every_events > 0 and new >= p.every_events) or (
            p.every_s > 0 and self.clock() - self._at >= p.every_s)

    def after_apply(self) -> None:
        """Called after each applied batch: take a checkpoint when one is due."""
        if self._writing is None and self.due():
            self._writing = asyncio.ensure_future(self.take())
            self._writing.add_done_callback(self._written)

    async def take(self) -> None:
        """Capture the applied state now and write it (after the batches it covers)."""
        pipe = self.pipeline
        through, events = pipe.through_batch, pipe.events_held
        started = time.perf_counter()
        data = self.checkpointer.capture(pipe, through, events)
        self._events, self._at = events, self.clock()
        await self.astore.call(self.store.write_checkpoint, through, events, data,
                               time.time(), self.policy.keep)
        self.written += 1
        log.info("checkpoint after batch %d (%d events, %d bytes, captured in %.0f ms)",
                 through, events, len(data), 1e3 * (time.perf_counter() - started))

    def _written(self, future: asyncio.Future[None]) -> None:
        self._writing = None
        if future.cancelled():
            return
        exc = future.exception()
        if isinstance(exc, StoreError):  # the events are safe; the next start replays more
            log.warning("could not write a checkpoint: %s", exc)
        elif exc is not None:
            log.error("checkpoint failed", exc_info=exc)

    async def close(self) -> None:
        """On a clean stop: wait for a write under way, then checkpoint what is new."""
        if self._writing is not None:
            await asyncio.wait([self._writing])
        if self.policy.enabled and self.pipeline.events_held > self._events:
            try:
                await self.take()
            except StoreError as exc:
                log.warning("could not write a checkpoint on stop: %s", exc)
