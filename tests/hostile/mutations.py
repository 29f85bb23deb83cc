"""Hypothesis building blocks: valid template events for a declared run, and mutations.

A mutation changes one event in place and returns the BadRequest field it must be blamed
on (`events[{i}]...`, `{i}` filled in later), or None when the result is still valid
(hostile but legal: unknown stage/head values, extreme integers, huge finite doubles,
odd unicode), which the server must accept without a handler error.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from hypothesis import strategies as st

from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_common.events import PAYLOAD_FOR_TYPE
from sanctum_svc.config import MAX_REPEATED, MAX_STRING_BYTES
from testkit.events import SLOT_IDS, build_run_events

RUN = "hostile"
N_ENVS = 2

#: Valid events for RUN after its TRAINING_STARTED (seq, run and producer set when sent).
TEMPLATES: list[tpb.TelemetryEvent] = [
    e for e in build_run_events(RUN, n_batches=2, n_envs=N_ENVS, completed=True)
    if e.event_type != tpb.EVENT_TYPE_TRAINING_STARTED]

_DOUBLE = (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT)
_STRING = (FieldDescriptor.TYPE_STRING,)
_UINT = (FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_UINT64)
_ENUM = (FieldDescriptor.TYPE_ENUM,)
_PER_ENV = {"epoch_completed", "seed_germinated", "seed_stage_changed", "seed_gate_evaluated",
            "seed_fossilized", "seed_pruned"}

Draw = Callable[[st.SearchStrategy], object]


@dataclass
class Slot:
    """One settable scalar somewhere below a payload: its path and how to set it."""

    path: str
    field: FieldDescriptor
    set: Callable[[object], None]


def slots(msg: Message, types: tuple[int, ...], prefix: str = "") -> Iterator[Slot]:
    """Every scalar field of `types` in msg and in its present sub-messages (elements of
    repeated fields included), as the validator would name them."""
    for f in msg.DESCRIPTOR.fields:
        path = f"{prefix}.{f.name}"
        if f.type == FieldDescriptor.TYPE_MESSAGE:
            if f.message_type.GetOptions().map_entry:
                continue
            if f.is_repeated:
                for k, sub in enumerate(getattr(msg, f.name)):
                    yield from slots(sub, types, f"{path}[{k}]")
            elif msg.HasField(f.name):
                yield from slots(getattr(msg, f.name), types, path)
        elif f.type in types:
            if f.is_repeated:
                values = getattr(msg, f.name)
                for k in range(len(values)):
                    yield Slot(f"{path}[{k}]", f, _item_setter(values, k))
            else:
                yield Slot(path, f, _attr_setter(msg, f.name))


def _attr_setter(msg: Message, name: str) -> Callable[[object], None]:
    return lambda v: setattr(msg, name, v)


def _item_setter(values: object, k: int) -> Callable[[object], None]:
    def put(v: object) -> None:
        values[k] = v  # type: ignore[index]  # k is a field of this message
    return put


def repeated_fields(msg: Message, prefix: str = ""
                    ) -> Iterator[tuple[str, Message, FieldDescriptor]]:
    """(path, owner, field) of every repeated field in msg and its present sub-messages."""
    for f in msg.DESCRIPTOR.fields:
        path = f"{prefix}.{f.name}"
        if f.is_repeated and not (f.type == FieldDescriptor.TYPE_MESSAGE
                                  and f.message_type.GetOptions().map_entry):
            yield path, msg, f
        elif f.type == FieldDescriptor.TYPE_MESSAGE and not f.is_repeated and msg.HasField(
                f.name):
            yield from repeated_fields(getattr(msg, f.name), path)


def payload_name(ev: tpb.TelemetryEvent) -> str:
    name = ev.WhichOneof("payload")
    assert name is not None
    return name


# ------------------------------------------------------------------ invalidating mutations

def wrong_payload(ev: tpb.TelemetryEvent, draw: Draw) -> str | None:
    name = payload_name(ev)
    others = sorted(t for t, p in PAYLOAD_FOR_TYPE.items() if p != name)
    ev.event_type = draw(st.sampled_from(others))
    return f"events[{{i}}].{name}"


def empty_payload(ev: tpb.TelemetryEvent, draw: Draw) -> str | None:
    ev.ClearField(payload_name(ev))
    return "events[{i}].payload"


def unknown_event_type(ev: tpb.TelemetryEvent, draw: Draw) -> str | None:
    known = max(tpb.EventType.values())
    ev.event_type = draw(st.one_of(st.just(0), st.integers(known + 1, 2**31 - 1),
                                   st.integers(-(2**31), -1)))
    return "events[{i}].event_type"


def non_finite(ev: tpb.TelemetryEvent, draw: Draw) -> str | None:
    name = payload_name(ev)
    payload = getattr(ev, name)
    candidates = list(slots(payload, _DOUBLE, f".{name}"))
    value = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
    if not candidates:  # no double here: grow a repeated double if the payload has one
        reps = [(p, o, f) for p, o, f in repeated_fields(payload, f".{name}") if f.type in _DOUBLE]
        if not reps:
            return None
        path, owner, f = draw(st.sampled_from(reps))
        getattr(owner, f.name).append(value)
        return f"events[{{i}}]{path}[{len(getattr(owner, f.name)) - 1}]"
    slot = draw(st.sampled_from(candidates))
    slot.set(value)
    return f"events[{{i}}]{slot.path}"


def huge_string(ev: tpb.TelemetryEvent, draw: Draw) -> str | None:
    name = payload_name(ev)
    candidates = list(slots(getattr(ev, name), _STRING, f".{name}"))
    size = draw(st.integers(MAX_STRING_BYTES + 1, 3 * MAX_STRING_BYTES))
    if not candidates or draw(st.booleans()):
        which = draw(st.sampled_from(["run_id", "producer_id"]))
        setattr(ev, which, "x" * draw(st.integers(257, 2 * MAX_STRING_BYTES)))
        return f"events[{{i}}].{which}"
    slot = draw(st.sampled_from(candidates))
    slot.set(draw(st.sampled_from(["a", "é", "∑", "🦀"])) * size)  # >= size bytes
    return f"events[{{i}}]{slot.path}"


def huge_repeated(ev: tpb.TelemetryEvent, draw: Draw) -> str | None:
    name = payload_name(ev)
    reps = list(repeated_fields(getattr(ev, name), f".{name}"))
    if not reps:
        return None
    path, owner, f = draw(st.sampled_from(reps))
    n = draw(st.integers(MAX_REPEATED + 1, MAX_REPEATED + 200))
    values = getattr(owner, f.name)
    if f.type == FieldDescriptor.TYPE_MESSAGE:
        for _ in range(n):
            values.add()
    elif f.type in _STRING:
        values.extend(["r0c0"] * n)
    else:
        values.extend([1] * n)
    return f"events[{{i}}]{path}"


def missing_identity(ev: tpb.TelemetryEvent, draw: Draw) -> str | None:
    which = draw(st.sampled_from(["run_id", "producer_id"]))
    ev.ClearField(which)
    return f"events[{{i}}].{which}"


def env_out_of_range(ev: tpb.TelemetryEvent, draw: Draw) -> str | None:
    ev.env_id = draw(st.integers(N_ENVS, 2**32 - 1))
    return "events[{i}].env_id"


def missing_env(ev: tpb.TelemetryEvent, draw: Draw) -> str | None:
    if payload_name(ev) not in _PER_ENV:
        return None
    ev.ClearField("env_id")
    return "events[{i}].env_id"


def bad_slot(ev: tpb.TelemetryEvent, draw: Draw) -> str | None:
    name = payload_name(ev)
    slot = draw(st.text(min_size=1, max_size=12).filter(lambda s: s not in SLOT_IDS))
    if name == "epoch_completed":
        seeds = ev.epoch_completed.seeds
        seeds.add(slot_id=slot, stage=tpb.SEED_STAGE_TRAINING)
        return f"events[{{i}}].epoch_completed.seeds[{len(seeds) - 1}].slot_id"
    if name == "analytics_snapshot":
        ev.analytics_snapshot.decision.slot_id = slot
        return "events[{i}].analytics_snapshot.decision.slot_id"
    if name in _PER_ENV:
        getattr(ev, name).slot_id = slot
        return f"events[{{i}}].{name}.slot_id"
    return None


def decision_env_out_of_range(ev: tpb.TelemetryEvent, draw: Draw) -> str | None:
    if payload_name(ev) != "analytics_snapshot":
        return None
    ev.analytics_snapshot.decision.env_id = draw(st.integers(N_ENVS, 2**32 - 1))
    return "events[{i}].analytics_snapshot.decision.env_id"


SEQ_ZERO = "seq_zero"  # applied after seq numbers are assigned

INVALIDATING: dict[str, Callable[[tpb.TelemetryEvent, Draw], str | None]] = {
    "wrong_payload": wrong_payload, "empty_payload": empty_payload,
    "unknown_event_type": unknown_event_type, "non_finite": non_finite,
    "huge_string": huge_string, "huge_repeated": huge_repeated,
    "missing_identity": missing_identity, "env_out_of_range": env_out_of_range,
    "missing_env": missing_env, "bad_slot": bad_slot,
    "decision_env_out_of_range": decision_env_out_of_range,
}


# ------------------------------------------------------------------ hostile but legal

def legal_oddity(ev: tpb.TelemetryEvent, draw: Draw) -> None:
    """Unknown enum values, extreme integers and doubles, odd unicode: all must be taken."""
    name = payload_name(ev)
    payload = getattr(ev, name)
    kind = draw(st.sampled_from(["enum", "uint", "double", "text", "severity"]))
    if kind == "severity":
        ev.severity = draw(st.integers(-(2**31), 2**31 - 1))
        return
    types = {"enum": _ENUM, "uint": _UINT, "double": _DOUBLE, "text": _STRING}[kind]
    candidates = [s for s in slots(payload, types, f".{name}")
                  if not s.path.endswith(("slot_id", "env_id"))]  # shape-checked: not legal
    if not candidates:
        return
    slot = draw(st.sampled_from(candidates))
    if kind == "enum":
        slot.set(draw(st.integers(-(2**31), 2**31 - 1)))
    elif kind == "uint":
        bits = 32 if slot.field.type == FieldDescriptor.TYPE_UINT32 else 64
        slot.set(draw(st.sampled_from([0, 1, 2**bits - 1, 2**(bits - 1)])))
    elif kind == "double":
        slot.set(draw(st.floats(allow_nan=False, allow_infinity=False)))
    else:
        slot.set(draw(st.text(max_size=64)))
