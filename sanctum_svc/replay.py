"""Rebuilding the state from the store before serving: restore the newest intact
checkpoint (sanctum_svc.checkpoint), cut the series index back to it, then replay the
batches after it through the same plan / apply path as live ingest (all of them, and a
pre-version store's `events` rows first, when there is no checkpoint).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from esper.telemetry.v1 import telemetry_pb2 as tpb
from sanctum_svc import checkpoint
from sanctum_svc.planner import content_digest
from sanctum_svc.store import EventStore

if TYPE_CHECKING:
    from sanctum_svc.ingest import IngestPipeline

log = logging.getLogger(__name__)


def replay_store(pipe: IngestPipeline, store: EventStore,
                 progress: Callable[[int, int], None] | None = None,
                 use_checkpoints: bool = True) -> int:
    """Rebuild state from the store (synchronously, before serving): from its newest
    intact checkpoint, then the batches after it (all of them without one). Returns the
    events replayed. Stored batches were accepted: caps are not applied to them again."""
    restored = _restore_checkpoint(pipe, store) if use_checkpoints else None
    after = restored[0] if restored is not None else None
    store.recover_index(restored[1] if restored is not None else None)
    total = store.count(after)
    done = 0
    parse = tpb.TelemetryEvent.FromString
    for chunk in store.replay_legacy() if after is None else ():
        events = [parse(data) for _, data in chunk]
        store.index_replayed([(0, at, [ev]) for (at, _), ev in zip(chunk, events,
                                                                   strict=True)])
        digests = [content_digest(data) for _, data in chunk]
        plan = pipe._replan(events, (), partial(list, digests))
        indices = range(len(events)) if plan.accepted is None else plan.accepted
        pipe._apply(events, plan, [chunk[i][0] for i in indices])
        done += len(chunk)
        if progress is not None:
            progress(done, total)
    parse_batch = tpb.EventBatch.FromString
    for rows in store.replay(after=after or 0):
        parsed = [(rowid, at, parse_batch(data), data) for at, data, rowid in rows]
        store.index_replayed([(rowid, at, b.events) for rowid, at, b, _ in parsed])
        for _, received_at, batch, data in parsed:
            events = list(batch.events)
            pipe._apply(events, pipe._replan(events, batch.drops, partial(_digests, data)),
                        received_at)
            done += len(events)
        if progress is not None:
            progress(done, total)
    pipe.through_batch = store.last_batch()
    pipe.events_held += done
    drops = [tpb.ProducerDrops(run_id=r, producer_id=p, dropped_total=t)
             for r, p, t in store.drops()]
    if drops:
        pipe._apply([], pipe._replan([], drops, None), 0.0)
    # Counters only the live path knows (received, duplicate, rejected) were persisted
    # with every batch: restore them verbatim.
    for run_id, data in store.deliveries().items():
        run = pipe.aggregator.get_or_create(run_id)
        if run.delivery.SerializeToString() != data:  # a change only if it is one
            run.delivery.ParseFromString(data)
            run.touch()
    pipe.planned.reset(pipe._cursors, keep_digests=True)
    return done


def _restore_checkpoint(pipe: IngestPipeline, store: EventStore
                        ) -> tuple[int, dict[int, int]] | None:
    """Restore the newest checkpoint that is intact: the batch it covers and the series
    index's counts then (None: none)."""
    for rowid, through, events, data, counts in store.checkpoints():
        try:
            checkpoint.restore(pipe, data)
        except checkpoint.CheckpointError as exc:
            log.warning("store %s: checkpoint %d not used (%s); trying an older one",
                        store.path, rowid, exc)
            continue
        pipe.through_batch, pipe.events_held = through, events
        pipe.restored_events = events
        log.info("restored checkpoint %d (%d events, through batch %d)",
                 rowid, events, through)
        return through, counts
    return None



def _digests(batch_bytes: bytes) -> list[int]:
    from sanctum_svc.ingest import event_digests

    return event_digests(batch_bytes)
