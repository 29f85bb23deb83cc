"""Aggregator checkpoints: replaying N events == restoring a checkpoint + replaying the rest."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.telemetry.v1 import telemetry_pb2 as tpb
from sanctum_svc import checkpoint
from sanctum_svc.aggregator import Aggregator, RunAggregator
from sanctum_svc.ingest import IngestPipeline
from sanctum_svc.metrics import Metrics
from sanctum_svc.store import EventStore
from sanctum_svc.store_thread import AsyncStore
from testkit.events import build_run_events, realistic_run

T0 = 1_700_000_000.0
NOW = T0 + 3600


def _events() -> list[tpb.TelemetryEvent]:
    """Two runs (one with A/B groups and gaps), decisions, seeds, vitals: every event type."""
    a = realistic_run(6, n_envs=3, epochs=3)
    b = build_run_events("run-ab", "p-A", n_batches=3, group_id="A")
    b += build_run_events("run-ab", "p-B", n_batches=3, group_id="B", start_seq=5)
    return a + b


def _batches(events: list[tpb.TelemetryEvent], size: int = 7) -> list[tpb.EventBatch]:
    return [tpb.EventBatch(events=events[i:i + size]) for i in range(0, len(events), size)]


async def _ingest(path: str, batches: list[tpb.EventBatch], start: int = 0) -> None:
    """Ingest copies of `batches` (handlers keep, and may adjust, what they apply), the
    i-th received at T0 + start + i."""
    store = EventStore(path)
    store.open()
    astore = AsyncStore(store)
    pipe = IngestPipeline(Aggregator(), astore, Metrics())
    await astore.call(pipe.replay, store)
    for i, batch in enumerate(batches, start):
        await pipe.ingest(tpb.EventBatch.FromString(batch.SerializeToString()),
                          received_at=T0 + i)
    await astore.close()


def _load(path: str, *, use_checkpoints: bool = True) -> tuple[IngestPipeline, EventStore,
                                                              AsyncStore]:
    store = EventStore(path)
    store.open()
    astore = AsyncStore(store)
    pipe = IngestPipeline(Aggregator(), astore, Metrics())
    pipe.replay(store, use_checkpoints=use_checkpoints)
    return pipe, store, astore


def _state(pipe: IngestPipeline) -> tuple[object, ...]:
    agg = pipe.aggregator
    return ([r.snapshot(NOW) for r in agg.runs()], [r.summary(NOW) for r in agg.runs()],
            dict(pipe.applied_cursors()), agg.latest_run_id(),
            {k: list(v) for k, v in pipe.planned.digest_rings().items()},
            pipe.planned.reserved_groups(), pipe.planned.reserved_runs())


@pytest.mark.parametrize("split", [1, 9, 17])
def test_checkpoint_then_rest_equals_full_replay(tmp_path: Path, split: int) -> None:
    batches = _batches(_events())
    full, part = str(tmp_path / "full.sqlite"), str(tmp_path / "part.sqlite")
    asyncio.run(_ingest(full, batches))
    asyncio.run(_ingest(part, batches[:split]))
    # Checkpoint the state after `split` batches, then write the rest after it.
    pipe, store, astore = _load(part)
    data = checkpoint.capture(pipe, pipe.through_batch, pipe.events_held)
    store.write_checkpoint(pipe.through_batch, pipe.events_held, data, NOW)
    asyncio.run(astore.close())
    asyncio.run(_ingest(part, batches[split:], split))

    reference, *_ = _load(full, use_checkpoints=False)
    restored, store, _ = _load(part)
    assert restored.through_batch == store.last_batch() == len(batches)
    assert restored.events_held == reference.events_held == len(_events())
    assert _state(restored) == _state(reference)
    # Without the checkpoint the same store replays to the same state too.
    assert _state(_load(part, use_checkpoints=False)[0]) == _state(reference)


def test_conflicts_are_still_detected_across_a_checkpoint(tmp_path: Path) -> None:
    """A resend of a seq applied before the checkpoint, with other content, is a conflict
    after the restart as before it (the producers' recent digests are in the checkpoint)."""
    events = build_run_events("run-c", "p", n_batches=2)
    path = str(tmp_path / "c.sqlite")
    asyncio.run(_ingest(path, _batches(events)))
    pipe, store, astore = _load(path)
    store.write_checkpoint(pipe.through_batch, pipe.events_held,
                           checkpoint.capture(pipe, pipe.through_batch, pipe.events_held), NOW)
    asyncio.run(astore.close())

    changed = tpb.TelemetryEvent()
    changed.CopyFrom(events[-1])
    changed.system_vitals.cpu_percent = 99.0

    async def resend() -> tuple[int, int]:
        store = EventStore(path)
        store.open()
        astore = AsyncStore(store)
        pipe = IngestPipeline(Aggregator(), astore, Metrics())
        await astore.call(pipe.replay, store)
        assert pipe.through_batch and pipe.events_held == len(events)
        result = await pipe.ingest(tpb.EventBatch(events=[changed, events[-2]]), T0)
        await astore.close()
        return result.conflicting, result.duplicate

    assert asyncio.run(resend()) == (1, 1)


def test_damaged_checkpoint_falls_back_to_replay(tmp_path: Path) -> None:
    path = str(tmp_path / "d.sqlite")
    asyncio.run(_ingest(path, _batches(_events())))
    pipe, store, astore = _load(path)
    data = bytearray(checkpoint.capture(pipe, pipe.through_batch, pipe.events_held))
    data[-3] ^= 0xFF  # the row checksum is right, the checkpoint's own is not
    store.write_checkpoint(pipe.through_batch, pipe.events_held, bytes(data), NOW)
    with pytest.raises(checkpoint.CheckpointError, match="checksum"):
        checkpoint.decode(bytes(data))
    asyncio.run(astore.close())
    again, *_ = _load(path)
    assert _state(again) == _state(_load(path, use_checkpoints=False)[0])


def test_decode_refuses_what_it_cannot_read() -> None:
    good = checkpoint.encode(spb.DeliveryStats().SerializeToString())
    with pytest.raises(checkpoint.CheckpointError, match="magic"):
        checkpoint.decode(b"XXXX" + good[4:])
    with pytest.raises(checkpoint.CheckpointError, match="version"):
        checkpoint.decode(good[:4] + b"\x00\x63" + good[6:])
    with pytest.raises(checkpoint.CheckpointError, match="short"):
        checkpoint.decode(good[:10])


def test_every_run_attribute_is_checkpointed_or_derived() -> None:
    """A new RunAggregator attribute must be captured by the checkpoint (or declared
    derived): otherwise a restart from a checkpoint would silently lose it."""
    attrs = set(vars(RunAggregator("r")))
    assert attrs == checkpoint.RUN_FIELDS | checkpoint.RUN_DERIVED


def test_store_check_verifies_checkpoints(tmp_path: Path) -> None:
    from sanctum_svc.store_check import check_store

    path = str(tmp_path / "s.sqlite")
    asyncio.run(_ingest(path, _batches(_events())))
    pipe, store, astore = _load(path)
    data = checkpoint.capture(pipe, pipe.through_batch, pipe.events_held)
    store.write_checkpoint(pipe.through_batch, pipe.events_held, data, NOW)
    store.write_checkpoint(pipe.through_batch, pipe.events_held, b"ESCK" + data[4:-1], NOW)
    asyncio.run(astore.close())
    report = check_store(path)
    assert "2 checkpoints" not in report.text()
    assert report.problems == ["checkpoints row 2: checksum mismatch"]
    assert "1 checkpoints, the newest after batch" in report.text()
