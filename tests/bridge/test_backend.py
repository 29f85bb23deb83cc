"""The live bridge: an output backend of the original hub streams a run to sanctum, and
sanctum ends up where the file import takes it.

The original system is not installed here (it need not be): its events are rebuilt from
its real output as the objects its hub hands a backend (an Enum event type, a datetime, a
payload dataclass or an object with `to_dict()`, stage enums inside), and delivered by a
worker thread per backend, as its hub does.
"""

from __future__ import annotations

import dataclasses
import enum
import queue
import threading
from datetime import datetime
from typing import Any

import pytest

from esper_client.bridge import SanctumOutput
from testkit import ThreadedSanctum
from tests.bridge.original import FIXTURE, Record, records, run_import, state

pytestmark = pytest.mark.slow

SeedStage = enum.Enum("SeedStage", "DORMANT GERMINATED TRAINING BLENDING HOLDING FOSSILIZED "
                                   "PRUNED EMBARGOED RESETTING")


@dataclasses.dataclass
class OriginalEvent:
    """The fields of the original's TelemetryEvent (leyline.telemetry.TelemetryEvent)."""

    event_id: str
    event_type: enum.Enum
    timestamp: datetime
    seed_id: str | None
    slot_id: str | None
    epoch: int | None
    group_id: str
    message: str
    data: Any
    severity: str


class WithToDict:
    """A typed payload of the original that serializes itself with to_dict()."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def to_dict(self) -> dict[str, Any]:
        return self._data


def _enums(data: dict[str, Any]) -> dict[str, Any]:
    """Stage names as the original's SeedStage members, where its payloads hold them."""
    out = dict(data)
    for key in ("from_stage", "to_stage", "target_stage"):
        if isinstance(out.get(key), str) and out[key] in SeedStage.__members__:
            out[key] = SeedStage[out[key]]
    if isinstance(out.get("seeds"), dict):
        out["seeds"] = {slot: {**s, "stage": SeedStage[s["stage"]]}
                        for slot, s in out["seeds"].items()}
    return out


def original_events(recs: list[Record]) -> list[OriginalEvent]:
    types = enum.Enum("TelemetryEventType", sorted({r["event_type"] for r in recs}))
    payload_classes: dict[str, type] = {}
    out = []
    for k, r in enumerate(recs):
        data = _enums(r["data"])
        if k % 2:  # half as dataclasses, half as to_dict() objects
            cls = payload_classes.setdefault(r["event_type"], dataclasses.make_dataclass(
                r["event_type"].title().replace("_", "") + "Payload", list(data)))
            try:
                payload: Any = cls(**data)
            except TypeError:  # a key set of this type not seen first: use to_dict
                payload = WithToDict(data)
        else:
            payload = WithToDict(data)
        out.append(OriginalEvent(
            event_id=r["event_id"], event_type=types[r["event_type"]],
            timestamp=datetime.fromisoformat(r["timestamp"]), seed_id=r["seed_id"],
            slot_id=r["slot_id"], epoch=r["epoch"], group_id=r["group_id"],
            message=r["message"], data=payload, severity=r["severity"]))
    return out


def deliver(backend: SanctumOutput, events: list[OriginalEvent]) -> None:
    """As the original hub does: start, a worker thread calling emit per event, close."""
    assert backend.start() is not False
    q: queue.Queue[OriginalEvent | None] = queue.Queue(maxsize=100)

    def worker() -> None:
        while (ev := q.get()) is not None:
            backend.emit(ev)

    t = threading.Thread(target=worker)
    t.start()
    for ev in events:
        q.put(ev)
    q.put(None)
    t.join()
    backend.close()


def test_a_live_run_through_the_backend_matches_the_file_import() -> None:
    recs = records(FIXTURE)
    with ThreadedSanctum() as via_file:
        assert run_import(FIXTURE, via_file.address).returncode == 0
        run_id = via_file.snapshot().run_id
        expected = state(via_file.snapshot(run_id))
    with ThreadedSanctum() as live:
        backend = SanctumOutput(live.address)
        deliver(backend, original_events(recs))
        snap = live.snapshot(run_id)
        assert state(snap) == expected
        (producer,) = snap.delivery.producers
        assert producer.producer_id == backend.producer_id and "bridge" in producer.producer_id
        skipped = {key.split(":")[0] for key in backend.report.skipped}
        assert "MORPHOLOGY_CAUSAL_LOG" in skipped


def test_the_backend_reads_dicts_and_survives_what_it_cannot_read(sanctum) -> None:
    backend = SanctumOutput(sanctum.address, run_id="dicts")
    backend.start()
    for r in records(FIXTURE)[:200]:
        backend.emit(r)  # the JSONL form as a dict
    backend.emit(object())  # no event_type: counted, not raised
    backend.emit(None)
    backend.close()
    assert sanctum.snapshot("dicts").delivery.events_applied > 0
    assert backend.report.skipped["(no event_type): not an event record"] == 2
