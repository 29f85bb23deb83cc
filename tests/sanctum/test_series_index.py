"""The series index's bookkeeping: points grouped per series in event order, and a failed
transaction leaves every tail as it found it (also when the batch filled a block)."""

from __future__ import annotations

from pathlib import Path

from esper.telemetry.v1 import telemetry_pb2 as tpb
from sanctum_svc.series_extract import EXTRACTORS, event_time, points_of
from sanctum_svc.series_index import BLOCK
from sanctum_svc.store import EventStore
from testkit.events import synthetic_ppo_run
from testkit.original_mix import original_mix


def _one_by_one(events: list[tpb.TelemetryEvent], at: float
                ) -> dict[tuple[str, str, str, int], tuple[list[float], list[float]]]:
    out: dict[tuple[str, str, str, int], tuple[list[float], list[float]]] = {}
    for ev in events:
        extract = EXTRACTORS.get(ev.event_type)
        for name, group, env, value in extract(ev) if extract else ():
            times, values = out.setdefault((ev.run_id, name, group, env), ([], []))
            times.append(event_time(ev, at))
            values.append(value)
    return out


def test_points_of_a_batch_are_the_events_points_in_order() -> None:
    events = original_mix("mix", n_batches=1) + synthetic_ppo_run(3, run_id="mix")
    assert points_of(events, 5.0) == _one_by_one(events, 5.0)


def _points(series: int, n: int, start: int) -> list[tpb.TelemetryEvent]:
    return [tpb.TelemetryEvent(
        run_id="r", producer_id="p", seq=start + i + 1, env_id=series,
        event_type=tpb.EVENT_TYPE_EPOCH_COMPLETED,
        epoch_completed=tpb.EpochCompletedPayload(val_accuracy=float(start + i)))
        for i in range(n)]


def test_rollback_restores_tails_even_after_a_block_was_written(tmp_path: Path) -> None:
    store = EventStore(str(tmp_path / "s.sqlite"))
    store.open()
    index, db = store.index, store.db
    db.execute("BEGIN")
    index.begin()
    index.add_batch(db, 1, 1.0, _points(0, BLOCK - 12, 0))
    db.execute("COMMIT")
    before = {sid: (t.first_step, list(t.values), list(t.batches))
              for sid, t in index.tails.items()}
    for extra in (5, 30):  # 30 fills the block: it is flushed inside the transaction
        db.execute("BEGIN")
        index.begin()
        index.add_batch(db, 2, 2.0, _points(0, extra, BLOCK - 12) + _points(1, 3, 0))
        if extra == 30:
            assert any(t.first_step == BLOCK for t in index.tails.values())
        db.execute("ROLLBACK")
        index.rollback()
        after = {sid: (t.first_step, list(t.values), list(t.batches))
                 for sid, t in index.tails.items()}
        assert after == before
    store.close()


def test_a_group_commit_that_fails_keeps_only_the_written_batches_points(tmp_path: Path
                                                                          ) -> None:
    """Batches written together with a culprit: the series index keeps the points of those
    written before it, none of the culprit's or of the refused batches after it."""
    import asyncio

    from sanctum_svc.store import StoreError
    from sanctum_svc.store_thread import AsyncStore, CommitJob

    store = EventStore(str(tmp_path / "s.sqlite"))
    store.open()
    first = _points(0, 10, 100) + _points(1, 10, 100) + _points(2, 10, 100)
    store.commit([(0.5, 30, "r", "p", 101, 130, tpb.EventBatch(events=first).SerializeToString())],
                 [], [])  # the series exist before the group: their tails are cut back
    jobs = []
    for env, seq in ((0, 1), (1, 1 << 63), (2, 1)):  # 1 << 63: SQLite cannot hold it
        events = _points(env, 40, 0)
        blob = tpb.EventBatch(events=events).SerializeToString()
        jobs.append(([(1.0, 40, "r", f"p{env}", seq, seq, blob)], events))

    async def run() -> list[StoreError | None]:
        astore = AsyncStore(store)
        loop = asyncio.get_running_loop()
        await astore.call(lambda: None)
        done = []
        for rows, events in jobs:
            fut: asyncio.Future[StoreError | None] = loop.create_future()
            done.append(fut)
            astore.submit(CommitJob(rows, [], [], 0, lambda job, err, f=fut: f.set_result(err),
                                    events=events))
        out = [await f for f in done]
        await astore.close()
        return out

    errors = asyncio.run(run())
    assert errors[0] is None and errors[1] is not None and errors[2] is not None
    counts = {key[3]: n for key, n in store.index.series_of("r")}
    assert counts == {0: 50, 1: 10, 2: 10}
