"""Reading and writing the original system's JSONL in tests: the fixture's records, and
files built from them (several runs, groups, hostile lines)."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from esper.sanctum.v2 import sanctum_pb2 as spb

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "original-small.jsonl.gz"
ESPER_SANCTUM = [sys.executable, "-m", "sanctum_svc"]

Record = dict[str, Any]


def records(path: Path = FIXTURE) -> list[Record]:
    """Every line of a JSONL file (plain or gzip) as a dict, in order."""
    opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
    with opener(path, "rt", encoding="utf-8") as f:  # type: ignore[operator]
        return [json.loads(line) for line in f if line.strip()]


def kind(record: Record) -> str:
    """The type a record is reported under (ANALYTICS_SNAPSHOT with its kind)."""
    if record["event_type"] == "ANALYTICS_SNAPSHOT":
        return f"ANALYTICS_SNAPSHOT[kind={record['data'].get('kind')}]"
    return record["event_type"]


def of(recs: list[Record], name: str, **where: Any) -> list[Record]:
    """Records reported as `name` whose data matches `where`."""
    return [r for r in recs if kind(r) == name
            and all(r["data"].get(k) == v for k, v in where.items())]


def counts(recs: list[Record]) -> Counter[str]:
    return Counter(kind(r) for r in recs)


def write(path: Path, lines: list[Record | str]) -> Path:
    """A JSONL file of `lines` (dicts as the original writes them, strings verbatim);
    gzip when the name ends in .gz. Bare NaN in a dict is written as the original does."""
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n"
                   for line in lines)
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def run_import(path: Path, address: str, *extra: str,
               timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`esper-sanctum import FILE --server ADDRESS` as a user runs it."""
    return subprocess.run([*ESPER_SANCTUM, "import", str(path), "--server", address, *extra],
                          capture_output=True, text=True, timeout=timeout)


def state(snap: spb.SanctumSnapshot) -> dict[str, object]:
    """What a mapping determines in a snapshot, without times, versions and producers."""
    envs = sorted((e.group_id, e.env_id, round(e.last_epoch.val_accuracy, 9),
                   round(e.last_epoch.reward, 9), e.epoch, round(e.cumulative_reward, 6),
                   len(e.seeds)) for e in snap.envs.envs)
    return {
        "envs": envs, "lifecycle": snap.lifecycle.SerializeToString(),
        "groups": [(g.group_id, g.updates, g.last_update.policy_loss,
                    g.last_decision.SerializeToString()) for g in snap.tamiyo.groups],
        "decisions": [c.SerializeToString() for c in snap.decisions.recent],
        "applied": snap.delivery.events_applied, "config": snap.run.config.SerializeToString(),
        "log": [(e.event_type, e.message) for e in snap.event_log.entries],
    }
