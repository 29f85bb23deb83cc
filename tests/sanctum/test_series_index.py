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
