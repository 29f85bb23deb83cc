"""The bridge's mapping on its own: values, lines, runs, reward pairing, bounded reports."""

from __future__ import annotations

import gzip
import math
from collections import Counter
from pathlib import Path

import pytest

from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_client.bridge import JsonlFile, Mapper, jsonl
from esper_client.bridge.report import MAX_KEYS
from esper_client.bridge.values import MAX_TEXT_BYTES, U32_MAX, Values
from tests.bridge.original import FIXTURE, of, records, run_import, write


def _values(data: dict) -> tuple[Values, Counter[str], Counter[str]]:
    omitted: Counter[str] = Counter()
    clamped: Counter[str] = Counter()
    return Values(omitted, clamped).bind("T", data), omitted, clamped


def test_values_leave_out_or_clamp_what_sanctum_refuses() -> None:
    v, omitted, clamped = _values({"nan": math.nan, "inf": -math.inf, "big": 2**70,
                                   "neg": -3, "ok": 7, "flag": True, "none": None,
                                   "long": "é" * MAX_TEXT_BYTES, "seed": 2**64 - 1})
    assert v.num("nan") is None and v.num("inf") is None and v.num("none") is None
    assert v.num("big") == float(2**70) and v.num("ok") == 7.0
    assert v.u32("big") == U32_MAX and v.u32("neg") == 0 and v.u32("ok") == 7
    assert v.u32("flag") is None and v.num("flag") is None  # a bool is not a number
    assert v.i64_exact("seed") is None  # a seed is never replaced by another one
    assert len(v.text("long").encode()) <= MAX_TEXT_BYTES
    assert omitted == Counter({"T.nan": 1, "T.inf": 1, "T.seed": 1})
    assert clamped == Counter({"T.big": 1, "T.neg": 1, "T.long": 1})


def test_lines_numbered_blank_skipped_bad_ones_explained(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(jsonl, "MAX_LINE_BYTES", 64)
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'{"a": NaN}\n\n{"b": 1\n' + b'{"c": "' + b"x" * 200 + b'"}\n'
                     + b"\xff\xfe\n" + b'{"d": 18446744073709551615}')
    with JsonlFile(path) as f:
        lines = list(f.lines())
    assert [line.number for line in lines] == [1, 3, 4, 5, 6]
    assert math.isnan(lines[0].record["a"])
    assert lines[1].error.startswith("not JSON")
    assert lines[2].error == "longer than 64 bytes"
    assert lines[3].error.startswith("not UTF-8")
    assert lines[4].record == {"d": 2**64 - 1}


def _start(group: str, event_id: str, episode_id: str = "run") -> dict:
    return {"event_type": "TRAINING_STARTED", "event_id": event_id, "group_id": group,
            "data": {"episode_id": episode_id, "n_envs": 2, "slot_ids": ["r0c0"]}}


def _ids(mapper: Mapper, recs: list[dict]) -> list[str]:
    out = []
    for rec in recs:
        out += [run_id for run_id, _ in mapper.feed(rec)]
    return out + [run_id for run_id, _ in mapper.close()]


def test_runs_split_at_a_new_start_but_groups_join_their_run() -> None:
    ids = _ids(Mapper(), [_start("A", "a1"), _start("B", "b2"), _start("A", "a3"),
                          _start("default", "d4"), _start("default", "d5")])
    assert ids == ["run-a1", "run-a3", "run-d4", "run-d5"]  # B joins A's run, declared once


def test_records_before_any_start_get_a_run_of_their_own() -> None:
    epoch = {"event_type": "EPOCH_COMPLETED", "event_id": "e1-x",
             "data": {"env_id": 0, "val_accuracy": 50.0, "inner_epoch": 3}}
    mapper = Mapper()
    ((run_id, event),) = _pairs(mapper, [epoch])
    assert run_id == "original-e1-x" and event.epoch_completed.val_accuracy == 0.5
    assert mapper.report.unpaired_epochs == 1


def _pairs(mapper: Mapper, recs: list[dict]) -> list[tuple[str, tpb.TelemetryEvent]]:
    out = []
    for rec in recs:
        out += mapper.feed(rec)
    return out + mapper.close()


def test_an_epoch_waits_for_its_decision_in_order_and_at_most_a_window() -> None:
    recs = records(FIXTURE)
    epoch = of(recs, "EPOCH_COMPLETED", env_id=0)[0]
    decision = of(recs, "ANALYTICS_SNAPSHOT[kind=last_action]", env_id=0)[0]
    other = of(recs, "SEED_GATE_EVALUATED", env_id=0)[0]
    mapper = Mapper()
    assert mapper.feed(of(recs, "TRAINING_STARTED")[0])  # nothing held: released at once
    assert mapper.feed(epoch) == [] and mapper.feed(other) == []  # held behind the epoch
    ready = mapper.feed(decision)
    assert [e.event_type for _, e in ready] == [tpb.EVENT_TYPE_EPOCH_COMPLETED,
                                                tpb.EVENT_TYPE_SEED_GATE_EVALUATED,
                                                tpb.EVENT_TYPE_ANALYTICS_SNAPSHOT]
    assert ready[0][1].epoch_completed.reward == decision["data"]["total_reward"] != 0
    small = Mapper(window=3)
    small.feed(of(recs, "TRAINING_STARTED")[0])
    held = [small.feed(epoch), small.feed(other), small.feed(other)]
    assert held == [[], [], []]
    assert len(small.feed(other)) == 4  # over the window: the epoch goes without a reward
    assert small.report.unpaired_epochs == 1


def test_the_report_stays_bounded() -> None:
    mapper = Mapper()
    for i in range(5 * MAX_KEYS):
        mapper.feed({"event_type": f"NEW_TYPE_{i}", "data": {}})
        mapper.feed({"event_type": "X" * 10_000, "data": {}})
    assert len(mapper.report.skipped) <= MAX_KEYS + 1
    assert sum(mapper.report.skipped.values()) == 10 * MAX_KEYS
    for i in range(100):
        mapper.report.bad_line(i, "bad")
    assert len(mapper.report.quoted) == 20 and mapper.report.malformed == 100


def test_a_truncated_gzip_imports_what_it_holds(tmp_path: Path, sanctum) -> None:
    whole = FIXTURE.read_bytes()
    cut = write(tmp_path / "cut.jsonl.gz", [])
    cut.write_bytes(whole[: len(whole) // 2])
    with gzip.open(cut, "rb") as f, pytest.raises(EOFError):
        f.read()
    done = run_import(cut, sanctum.address)
    assert done.returncode == 0, done.stderr
    assert "file ends early" in done.stdout
    assert sanctum.snapshot().delivery.events_applied > 0


def test_a_run_appended_twice_is_two_runs() -> None:
    """`cat run.jsonl run.jsonl`: the same records again are a second run, not the same
    events applied twice to one."""
    start = _start("default", "s1")
    assert _ids(Mapper(), [start, start, start]) == ["run-s1", "run-s1-2", "run-s1-3"]
