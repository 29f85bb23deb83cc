"""The original system's own in-process aggregator on its own recorded telemetry.

Run as a separate interpreter with the original's source first on the path (it has its own
top-level `esper` package, which would shadow ours):

    PYTHONPATH=ORIGINAL/src python bench/original_inprocess.py FIXTURE.jsonl.gz ROUNDS

It turns each JSONL line back into the original's TelemetryEvent (payload classes' own
`from_dict`), then times `SanctumAggregator.process_event` over all of them, ROUNDS times on
a fresh aggregator, and prints one JSON line: {"events", "skipped", "rates", "snapshot_s"}.
`bench/bench_original.py` runs it beside our ingest on the same records.
"""

from __future__ import annotations

import gzip
import importlib
import json
import sys
import time
from datetime import datetime
from typing import Any

#: Event types whose payload class is not `<CamelCase type>Payload`.
PAYLOAD_OF = {
    "PPO_UPDATE_COMPLETED": "PPOUpdatePayload",
    "BATCH_EPOCH_COMPLETED": "BatchEpochCompletedPayload",
    "COUNTERFACTUAL_MATRIX_COMPUTED": "CounterfactualMatrixPayload",
    "PHASE_PROFILE_COMPLETED": "PhaseProfileReport",
    "VALUE_COLLAPSE_DETECTED": "AnomalyDetectedPayload",
    "IMPROVEMENT_DETECTED": "TrendDetectedPayload",
    "PLATEAU_DETECTED": "TrendDetectedPayload",
    "DEGRADATION_DETECTED": "TrendDetectedPayload",
}


def _payload_class(modules: list[Any], event_type: str) -> Any:
    name = PAYLOAD_OF.get(event_type) or "".join(
        w.capitalize() for w in event_type.split("_")) + "Payload"
    for mod in modules:
        cls = getattr(mod, name, None)
        if cls is not None:
            return cls
    return None


def load(path: str) -> tuple[list[Any], int]:
    # The original's own package (it shadows ours on this interpreter's path).
    reports = importlib.import_module("esper.leyline.reports")
    telemetry = importlib.import_module("esper.leyline.telemetry")

    events, skipped = [], 0
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            cls = _payload_class([telemetry, reports], rec["event_type"])
            try:
                data = cls.from_dict(rec["data"]) if cls is not None and rec["data"] else None
                ev = telemetry.TelemetryEvent(
                    event_id=rec["event_id"], event_type=rec["event_type"],
                    timestamp=datetime.fromisoformat(rec["timestamp"]),
                    seed_id=rec["seed_id"], slot_id=rec["slot_id"], epoch=rec["epoch"],
                    group_id=rec["group_id"] or "default", message=rec["message"] or "",
                    data=data, severity=rec.get("severity") or "info")
            except Exception:  # a shape this commit's classes do not read back
                skipped += 1
                continue
            events.append(ev)
    return events, skipped


def main(path: str, rounds: int) -> None:
    aggregator = importlib.import_module("esper.karn.sanctum.aggregator")

    events, skipped = load(path)
    rates, snap = [], []
    for _ in range(rounds):
        agg = aggregator.SanctumAggregator(num_envs=4)
        started = time.perf_counter()
        for ev in events:
            agg.process_event(ev)
        rates.append(len(events) / (time.perf_counter() - started))
        t0 = time.perf_counter()
        agg.get_snapshot()
        snap.append(time.perf_counter() - t0)
    print(json.dumps({"events": len(events), "skipped": skipped, "rates": rates,
                      "snapshot_s": min(snap)}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 3)
