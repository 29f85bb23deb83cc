"""SnapshotDelta: applying the delta the server builds from A to B turns A into B exactly,
whatever A and B hold (every field at every depth, edge values, shapes that change), and
no delta, however hostile, makes the applier raise anything but DeltaMismatch."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper_common.delta import DeltaMismatch, apply_delta
from sanctum_svc.aggregator import RunAggregator
from sanctum_svc.config import SNAPSHOT_BUDGET_BYTES
from sanctum_svc.delta import build_delta, float_overlap, overlap
from testkit.original_mix import original_mix
from tests.tui.hostile import messages, snapshots

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _wire(snap: spb.SanctumSnapshot) -> bytes:
    return snap.SerializeToString(deterministic=True)


def _successor(draw: st.DrawFn, a: spb.SanctumSnapshot) -> spb.SanctumSnapshot:
    """B from A as a run moves on: each section kept, replaced, or grown by appending
    (with the oldest items dropped), envs and groups changed field by field."""
    other: spb.SanctumSnapshot = draw(snapshots())
    b = spb.SanctumSnapshot()
    b.CopyFrom(a)
    b.version = a.version + draw(st.integers(1, 5)) if a.version < 2**63 else 1
    for fd in spb.SanctumSnapshot.DESCRIPTOR.fields:
        if fd.message_type is None or draw(st.integers(0, 2)) == 0:
            continue
        if draw(st.booleans()):  # replaced by another snapshot's (or cleared)
            b.ClearField(fd.name)
            if other.HasField(fd.name):
                getattr(b, fd.name).CopyFrom(getattr(other, fd.name))
            continue
        for held, new in ((b.event_log.entries, other.event_log.entries),
                          (b.decisions.recent, other.decisions.recent)):
            del held[:draw(st.integers(0, len(held)))]
            held.extend(new)
        for series in b.histories.series:
            del series.values[:draw(st.integers(0, len(series.values)))]
            series.values.extend(draw(st.lists(st.floats(width=32), max_size=4)))
        for env, src in zip(b.envs.envs, other.envs.envs, strict=False):
            env.last_epoch.CopyFrom(src.last_epoch)
            for key, seed in list(src.seeds.items())[:1]:
                env.seeds[key].CopyFrom(seed)
            for key in list(env.seeds)[:draw(st.integers(0, 1))]:
                del env.seeds[key]
        for group, src in zip(b.tamiyo.groups, other.tamiyo.groups, strict=False):
            group.last_decision.CopyFrom(src.last_decision)
            group.updates = src.updates
        b.run.seconds_since_last_event = other.run.seconds_since_last_event
        b.run.ClearField("completion")
    return b


@SETTINGS
@given(st.data())
def test_applying_the_delta_gives_the_new_snapshot(data: st.DataObject) -> None:
    a: spb.SanctumSnapshot = data.draw(snapshots())
    a.run_id = "r"
    b = _successor(data.draw, a)
    b.run_id = "r"
    delta = build_delta(a, b)
    before = _wire(a)
    out = apply_delta(a, delta)
    assert _wire(out) == _wire(b)
    assert _wire(a) == before  # the held snapshot is left as it was


@SETTINGS
@given(snapshots(), messages(spb.SnapshotDelta.DESCRIPTOR))
def test_a_hostile_delta_is_refused_or_applied_never_raises(
        held: spb.SanctumSnapshot, delta: spb.SnapshotDelta) -> None:
    delta.run_id, delta.base_version = held.run_id, held.version
    try:
        out = apply_delta(held, delta)
    except DeltaMismatch:
        return
    assert out.ByteSize() == delta.full_bytes and out.version == delta.version


def test_a_delta_for_another_base_is_refused() -> None:
    a = spb.SanctumSnapshot(run_id="r", version=3)
    b = spb.SanctumSnapshot(run_id="r", version=4)
    delta = build_delta(a, b)
    for held in (spb.SanctumSnapshot(run_id="r", version=2),
                 spb.SanctumSnapshot(run_id="other", version=3)):
        try:
            apply_delta(held, delta)
        except DeltaMismatch:
            continue
        raise AssertionError(f"applied to {held}")


def test_appends_send_only_the_new_items() -> None:
    assert overlap([1, 2, 3, 4], [3, 4, 5]) == 2
    assert overlap([1, 1, 1], [1, 1, 1, 2]) == 0
    assert overlap([1, 2], [7, 8]) == 2
    assert float_overlap([0.5, 1.5, 2.5], [2.5, 3.5]) == 2
    assert float_overlap([float("nan")], [float("nan"), 1.0]) == 0
    a = spb.SanctumSnapshot(run_id="r", version=1)
    a.event_log.entries.add(message="one")
    a.event_log.entries.add(message="two")
    b = spb.SanctumSnapshot()
    b.CopyFrom(a)
    b.version = 2
    del b.event_log.entries[0]
    b.event_log.entries.add(message="three")
    delta = build_delta(a, b)
    assert delta.event_log.dropped == 1
    assert [e.message for e in delta.event_log.entries] == ["three"]
    assert not delta.set.HasField("event_log")


@pytest.mark.parametrize("budget", [SNAPSHOT_BUDGET_BYTES, 12_000])
def test_deltas_follow_the_original_mix_exactly(budget: int) -> None:
    """Every snapshot the real aggregator builds over the original's 12-env mix (chunks of
    varying size, across a batch barrier) is rebuilt exactly from the previous one plus
    its delta, and the deltas use the patches, not whole sections; also when the size
    budget trims every snapshot (the delta carries the cuts and the trim record)."""
    events = original_mix("mix", n_batches=2)
    agg = RunAggregator("mix", snapshot_budget=budget)
    rng = random.Random(15)
    held = prev = None
    used: set[str] = set()
    i, t = 0, 1_700_000_000.0
    while i < len(events):
        n = rng.choice((1, 7, 40, 200, 900))
        agg.apply_many(events[i:i + n], t + i * 1e-3)
        i += n
        snap = agg.snapshot(t + i * 1e-3)
        if prev is None:
            held = snap
        else:
            delta = build_delta(prev, snap)
            used |= {fd.name for fd, _ in delta.ListFields()}
            held = apply_delta(held, delta)
            assert _wire(held) == _wire(snap)
        prev = snap
    assert {"run", "groups", "envs", "series", "event_log", "decisions"} <= used
    assert held is not None and held.HasField("trimmed") == (budget < SNAPSHOT_BUDGET_BYTES)
