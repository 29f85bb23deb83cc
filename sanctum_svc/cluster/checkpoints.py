"""Aggregator checkpoints kept in the cluster (a JetStream object store, R copies).

A replica that starts (or restarts) restores the newest intact checkpoint and applies only
the stream messages after it. Checkpoints are named by the stream sequence they cover and
written when a replica's applied sequence crosses a multiple of `every`: every replica
holds the same state at that sequence (same messages, same order, same timestamps), so
two replicas writing the same name write the same bytes. The newest KEEP are kept.
"""

from __future__ import annotations

import asyncio
import logging

from nats.js import api
from nats.js.errors import NotFoundError
from nats.js.object_store import ObjectStore

from sanctum_svc import checkpoint
from sanctum_svc.cluster.log import ClusterError, EventLog
from sanctum_svc.ingest import IngestPipeline

log = logging.getLogger(__name__)

BUCKET = "ESPER_CHECKPOINTS"
#: Checkpoints kept; older ones are deleted once a newer one is written.
KEEP = 2
#: Bound of the bucket: KEEP checkpoints of every run held (a run's part is about its
#: snapshot's size, at most 1 MiB, so 2 GiB holds ~1000 runs twice).
MAX_BYTES = 2 * 1024**3
#: Default: a checkpoint per this many stream messages (batches).
EVERY = 10_000
#: A failed write is tried again after this many seconds, doubling up to RETRY_MAX_S, until
#: it is written or a newer checkpoint replaces it: a stream that goes quiet right after a
#: failed write still gets its checkpoint.
RETRY_S = 0.5
RETRY_MAX_S = 30.0


def name_of(seq: int) -> str:
    return f"through-{seq:020d}"


def seq_of(name: str) -> int | None:
    prefix = "through-"
    if not name.startswith(prefix) or not name[len(prefix):].isdigit():
        return None
    return int(name[len(prefix):])


class Checkpoints:
    """Writes and restores one replica's checkpoints."""

    def __init__(self, events: EventLog, pipeline: IngestPipeline, every: int = EVERY) -> None:
        self.events = events
        self.pipeline = pipeline
        self.every = every
        self._store: ObjectStore | None = None
        self._capturer = checkpoint.Checkpointer()
        self._writing: asyncio.Future[None] | None = None
        self._next: tuple[int, bytes] | None = None
        self.written = 0

    async def open(self) -> None:
        js = self.events.js
        if js is None:
            raise ClusterError("not connected")
        try:
            self._store = await js.object_store(BUCKET)
        except NotFoundError:
            self._store = await js.create_object_store(BUCKET, api.ObjectStoreConfig(
                storage=api.StorageType.FILE, replicas=self.events.config.replicas,
                max_bytes=MAX_BYTES))

    async def restore(self) -> int:
        """Restore the newest intact checkpoint; the stream sequence it covers (0: none)."""
        assert self._store is not None
        try:
            infos = await self._store.list(ignore_deletes=True)
        except NotFoundError:  # an empty bucket
            return 0
        names = sorted((s, i.name) for i in infos if (s := seq_of(i.name)) is not None)
        for seq, name in reversed(names):
            try:
                data = (await self._store.get(name)).data
                if data is None:
                    raise checkpoint.CheckpointError("empty object")
                checkpoint.restore(self.pipeline, data)
            except (checkpoint.CheckpointError, NotFoundError) as exc:
                log.warning("cluster checkpoint %s not used (%s); trying an older one",
                            name, exc)
                continue
            log.info("restored cluster checkpoint %s", name)
            return seq
        return 0

    def applied(self, seq: int) -> None:
        """Called after each applied message: capture a checkpoint at every `every`-th and
        write it (after the one being written, if any; a newer capture replaces a waiting
        one, so a fast stream never queues more than one). Without the object store (it
        could not be opened at start, e.g. the cluster was still electing the bucket's
        leader), the writer opens it first: one failed open never stops checkpoints for the
        replica's whole life."""
        if seq % self.every:
            return
        self._next = (seq, self._capturer.capture(self.pipeline, seq,
                                                  self.pipeline.events_held))
        if self._writing is None or self._writing.done():
            self._writing = asyncio.ensure_future(self._write_pending())

    async def _write_pending(self) -> None:
        delay = RETRY_S
        while self._next is not None:
            seq, data = self._next
            self._next = None
            try:
                if self._store is None:
                    await self.open()
                assert self._store is not None
                await self._store.put(name_of(seq), data)
            except Exception as exc:
                log.warning("cluster checkpoint at message %d not written (%s); trying again "
                            "in %g s", seq, exc or type(exc).__name__, delay)
                if self._next is None:  # no newer capture: this one is still the newest
                    self._next = (seq, data)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)
                continue
            self.written += 1
            delay = RETRY_S
            await self._forget_old()

    async def _forget_old(self) -> None:
        """Delete all but the newest KEEP checkpoints (a failure only leaves extra ones)."""
        assert self._store is not None
        try:
            infos = await self._store.list(ignore_deletes=True)
            old = sorted((s, i.name) for i in infos if (s := seq_of(i.name)) is not None)
            for _, name in old[:-KEEP]:
                await self._store.delete(name)
        except Exception as exc:
            log.warning("older cluster checkpoints not deleted: %s", exc or type(exc).__name__)

    async def close(self) -> None:
        if self._writing is not None:
            try:
                await asyncio.wait_for(self._writing, 5)
            except Exception:  # already logged or cancelled at shutdown
                log.debug("checkpoint write abandoned at shutdown", exc_info=True)
