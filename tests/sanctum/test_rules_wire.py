"""The batch-wide check on the wire (sanctum_svc.rules_wire) never passes what the declared
rules refuse: every non-finite double anywhere in every template event, timestamps out of
range, a bad value hidden by a later occurrence of the same field; and it passes the
original's realistic mix, so the fast path really uses it."""

from __future__ import annotations

import math

import pytest

from esper.telemetry.v1 import telemetry_pb2 as tpb
from sanctum_svc import rules
from sanctum_svc.rules_wire import WireCheck
from testkit.original_mix import original_mix
from tests.hostile.mutations import _DOUBLE, TEMPLATES, slots

WIRE = WireCheck(tpb.TelemetryEvent.DESCRIPTOR)


def _ok(events: list[tpb.TelemetryEvent]) -> bool:
    return WIRE.ok([e.SerializeToString() for e in events])


def test_the_realistic_mix_passes_on_the_wire() -> None:
    assert _ok(original_mix("mix", n_batches=1))


def _double_slots() -> list[tuple[int, int, str]]:
    out = []
    for i, ev in enumerate(TEMPLATES):
        for k, slot in enumerate(slots(ev, _DOUBLE)):
            out.append((i, k, slot.path))
    return out


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_every_non_finite_double_the_rules_refuse_fails_on_the_wire(value: float) -> None:
    checked = 0
    for i, k, path in _double_slots():
        ev = tpb.TelemetryEvent()
        ev.CopyFrom(TEMPLATES[i])
        list(slots(ev, _DOUBLE))[k].set(value)
        if not list(rules.walk(ev)):
            continue  # a double without a finite rule
        checked += 1
        assert not _ok([TEMPLATES[0], ev]), path
    assert checked > 50  # heads, seeds, cards and payload scalars were all reached


@pytest.mark.parametrize("seconds, nanos", [(253402300800, 0), (-62135596801, 0),
                                            (0, 1_000_000_000), (5, -1)])
def test_timestamps_out_of_range_fail_on_the_wire(seconds: int, nanos: int) -> None:
    ev = tpb.TelemetryEvent()
    ev.CopyFrom(TEMPLATES[0])
    ev.timestamp.seconds, ev.timestamp.nanos = seconds, nanos
    assert list(rules.walk(ev))
    assert not _ok([ev])


def test_a_bad_value_sent_after_a_good_one_is_seen() -> None:
    """Singular fields keep the last occurrence on the wire: the mirror sees all of them."""
    ev = next(e for e in TEMPLATES if e.HasField("analytics_snapshot"))
    bad = tpb.TelemetryEvent()
    bad.analytics_snapshot.decision.heads.add(probability=math.nan)
    merged = tpb.TelemetryEvent.FromString(ev.SerializeToString() + bad.SerializeToString())
    assert list(rules.walk(merged))
    assert not WIRE.ok([ev.SerializeToString() + bad.SerializeToString()])
