"""Batch validation: run over a WHOLE batch before anything from it is persisted or applied.

Two kinds of rules:
- field rules, declared in the .proto files as buf.validate options (ranges, lengths,
  finiteness, defined enums, timestamp ranges, required oneof, repeated counts) and
  evaluated by `sanctum_svc.rules` from the descriptors;
- run rules, which need the run's declared shape and stay here: the payload matches the
  event type, env ids below the declared n_envs (or the env cap before a declaration),
  slot ids among the declared ones, per-env events name their env, and a run's
  declaration, once made, does not change.

Each violation names the offending field the way google.rpc.BadRequest wants it
(`events[3].ppo_update.policy_loss`). Ingest first runs `fast_ok`, one pass that can only
answer "certainly valid" (the common case) or "look closer"; only then do the rules run
and name the fields. Both read the same declared rules and the same `shape_violations`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import attrgetter

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message

from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_common.events import PAYLOAD_FOR_TYPE, type_name
from sanctum_svc import rules, rules_fast
from sanctum_svc.config import MAX_EVENTS_PER_BATCH, MAX_REPEATED, Limits
from sanctum_svc.rules_wire import WireCheck
from sanctum_svc.validate_bulk import bulk_ok

#: Stop collecting after this many violations: the first few are what a user needs.
MAX_VIOLATIONS = 20

_DEFAULT_LIMITS = Limits()
_EVENT_PLAN = rules.plan_for(tpb.TelemetryEvent.DESCRIPTOR)
_DROP_PLAN = rules.plan_for(tpb.ProducerDrops.DESCRIPTOR)
_PER_ENV = frozenset({"epoch_completed", "seed_germinated", "seed_stage_changed",
                      "seed_gate_evaluated", "seed_fossilized", "seed_pruned"})
_SINGLE_SLOT = frozenset({"seed_germinated", "seed_stage_changed", "seed_gate_evaluated",
                          "seed_fossilized", "seed_pruned"})


#: Event type -> (payload name, fast check of an event with that payload); the envelope's
#: own checks run column-wise (see fast_ok).
_PAYLOAD_PLANS = dict(_EVENT_PLAN.oneofs)["payload"]
#: Payloads with run rules beyond the env id (see shape_violations).
_SHAPED = _SINGLE_SLOT | {"epoch_completed", "analytics_snapshot", "training_started"}
_ONE_SLOT, _SEEDS, _DECISION, _DECLARATION = 1, 2, 3, 4
_KIND = {**dict.fromkeys(_SINGLE_SLOT, _ONE_SLOT), "epoch_completed": _SEEDS,
         "analytics_snapshot": _DECISION, "training_started": _DECLARATION}
assert set(_KIND) == _SHAPED
_BY_TYPE = {t: (name, _PAYLOAD_PLANS[name].fast, _KIND.get(name, 0))
            for t, name in PAYLOAD_FOR_TYPE.items()}
_BULK_BY_TYPE = {t: (name, _PAYLOAD_PLANS[name], _KIND.get(name, 0))
                 for t, name in PAYLOAD_FOR_TYPE.items()}
_SLOT_ID = attrgetter("slot_id")
assert not (_EVENT_PLAN.doubles or _EVENT_PLAN.rep_subs or _EVENT_PLAN.subs), \
    "fast_ok checks the envelope column-wise: it has no doubles or sub-messages of its own"
_TRAINING_STARTED = tpb.EVENT_TYPE_TRAINING_STARTED
_WIRE = WireCheck(tpb.TelemetryEvent.DESCRIPTOR)


@dataclass(frozen=True)
class Violation:
    """One bad field: its path in the IngestRequest.batch and what is wrong with it."""

    field: str
    description: str


DeclaredShape = Callable[[str], "tpb.RunConfig | None"]

#: Envelope columns of a batch's events: (event_types, run_ids, producer_ids, seqs).
Columns = tuple[list[int], list[str], list[str], list[int]]

#: What events of one run are checked against: (env id bound, declared slot ids or None,
#: the declared RunConfig or None).
Shape = tuple[int, "frozenset[str] | None", "tpb.RunConfig | None"]


def envelope_columns(events: Sequence[tpb.TelemetryEvent]) -> Columns:
    """The envelope fields every rule and the dedupe read, extracted once per batch."""
    return ([e.event_type for e in events], [e.run_id for e in events],
            [e.producer_id for e in events], [e.seq for e in events])


def clip(text: str, limit: int = 80) -> str:
    """`text` cut to `limit` characters: descriptions echo client input, and gRPC refuses
    trailers over 8 KiB (the client would see RESOURCE_EXHAUSTED instead of the detail)."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


# ---------------------------------------------------------------------------- run rules

def shape_of(cfg: tpb.RunConfig | None, limits: Limits) -> Shape:
    if cfg is None:
        return limits.max_envs, None, None
    n_envs = cfg.n_envs if 0 < cfg.n_envs <= limits.max_envs else limits.max_envs
    return n_envs, frozenset(cfg.slot_ids) if cfg.slot_ids else None, cfg


def shape_violations(ev: tpb.TelemetryEvent, name: str, shape: Shape, limits: Limits
                     ) -> list[tuple[str, str]]:
    """(path below the event, why) for each run rule `ev` (payload `name`) breaks."""
    n_envs, slots, cfg = shape
    out: list[tuple[str, str]] = []
    if ev.HasField("env_id"):
        if ev.env_id >= n_envs:
            out.append((".env_id", _env_why(ev.env_id, cfg, limits)))
    elif name in _PER_ENV:
        out.append((".env_id", f"{type_name(ev.event_type)} needs env_id"))
    if name in _SINGLE_SLOT:
        if slots is not None:
            slot = getattr(ev, name).slot_id
            if slot not in slots:
                out.append((f".{name}.slot_id", _slot_why(slot, slots)))
    elif name == "epoch_completed":
        if slots is not None:
            for k, seed in enumerate(ev.epoch_completed.seeds):
                if seed.slot_id not in slots:
                    out.append((f".epoch_completed.seeds[{k}].slot_id",
                                _slot_why(seed.slot_id, slots)))
    elif name == "analytics_snapshot":
        card = ev.analytics_snapshot.decision
        if card.env_id >= n_envs:
            out.append((".analytics_snapshot.decision.env_id",
                        _env_why(card.env_id, cfg, limits)))
        if slots is not None and card.slot_id and card.slot_id not in slots:
            out.append((".analytics_snapshot.decision.slot_id", _slot_why(card.slot_id, slots)))
    elif name == "training_started":
        new = ev.training_started.config
        if new.n_envs > limits.max_envs:
            out.append((".training_started.config.n_envs",
                        f"n_envs {new.n_envs} is over the limit of {limits.max_envs} envs "
                        "per run"))
        if cfg is not None and cfg is not new:
            changed = declaration_change(cfg, new)
            if changed:
                out.append((".training_started.config", changed))
    return out


def _env_why(env_id: int, cfg: tpb.RunConfig | None, limits: Limits) -> str:
    if cfg is not None and 0 < cfg.n_envs <= limits.max_envs:
        return f"env_id {env_id} >= n_envs {cfg.n_envs} declared by the run"
    return (f"env_id {env_id} is over the limit of {limits.max_envs} envs per run"
            + ("" if cfg is not None else " (the run has not declared its shape yet)"))


def _slot_why(slot: str, slots: frozenset[str]) -> str:
    return (f"slot {clip(repr(slot))} is not one of the run's slot_ids "
            f"{clip(repr(sorted(slots)))}")


def declaration_change(old: tpb.RunConfig, new: tpb.RunConfig) -> str | None:
    """Why `new` may not replace the run's declaration `old`, or None when it is the same
    declaration (a resumed producer may differ in resume_path only)."""
    if old == new:
        return None
    a, b = tpb.RunConfig(), tpb.RunConfig()
    a.CopyFrom(old)
    b.CopyFrom(new)
    a.ClearField("resume_path")
    b.ClearField("resume_path")
    if a == b:
        return None
    for f in tpb.RunConfig.DESCRIPTOR.fields:
        x, y = getattr(a, f.name), getattr(b, f.name)
        if x != y:
            if f.is_repeated:
                x, y = list(x), list(y)
            return (f"the run is already declared with {f.name}={clip(repr(x), 40)}, not "
                    f"{clip(repr(y), 40)}: a run's declaration cannot change; start a new "
                    "run id")
    return "the run is already declared differently; start a new run id"


# ---------------------------------------------------------------------------- the batch


def check_batch_size(batch: tpb.EventBatch) -> list[Violation]:
    """At most MAX_EVENTS_PER_BATCH events and MAX_REPEATED drop entries."""
    out = []
    if len(batch.events) > MAX_EVENTS_PER_BATCH:
        out.append(Violation("events", f"{len(batch.events)} events in one batch; the limit "
                                       f"is {MAX_EVENTS_PER_BATCH}"))
    if len(batch.drops) > MAX_REPEATED:
        out.append(Violation("drops", f"{len(batch.drops)} drop entries; the limit is "
                                      f"{MAX_REPEATED}"))
    return out


def check_event(i: int, ev: tpb.TelemetryEvent) -> list[Violation]:
    """The declared field rules, and the payload matching the event type."""
    p = f"events[{i}]"
    out = [Violation(f"{p}{path}", why) for path, why in rules.walk(ev)]
    expected = PAYLOAD_FOR_TYPE.get(ev.event_type)
    actual = ev.WhichOneof("payload")
    if expected is not None and actual is not None and actual != expected:
        out.append(Violation(f"{p}.{actual}", f"{type_name(ev.event_type)} carries {expected}, "
                                              f"not {actual}"))
    return out[:MAX_VIOLATIONS]


def check_drops(batch: tpb.EventBatch) -> list[Violation]:
    """Drop reports name their run and producer; totals fit the store's integers."""
    return [Violation(f"drops[{j}]{path}", why)
            for j, d in enumerate(batch.drops) for path, why in rules.walk(d)]


def validate_batch(
    batch: tpb.EventBatch,
    declared: DeclaredShape,
    serialized: list[bytes] | None = None,
    columns: Columns | None = None,
    raw: bytes | None = None,
    events: Sequence[tpb.TelemetryEvent] | None = None,
    limits: Limits = _DEFAULT_LIMITS,
) -> list[Violation]:
    """Every violation in the batch (up to MAX_VIOLATIONS); empty means accept it whole.

    `declared(run_id)` gives the shape a run declared earlier; a TRAINING_STARTED inside
    the batch declares it for the events after it. `columns`, `raw` (the batch's bytes as
    received) and `events` (list(batch.events)) save re-reading them.
    """
    if fast_ok(batch, declared, columns, raw, events, limits):
        return []
    out = check_batch_size(batch)
    if out:
        return out
    shapes: dict[str, Shape] = {}
    for i, ev in enumerate(batch.events):
        bad = check_event(i, ev)
        out += bad
        name = ev.WhichOneof("payload")
        if name is not None and PAYLOAD_FOR_TYPE.get(ev.event_type) == name:
            shape = shapes.get(ev.run_id)
            if shape is None:
                shape = shapes[ev.run_id] = shape_of(declared(ev.run_id), limits)
            out += [Violation(f"events[{i}]{path}", why)
                    for path, why in shape_violations(ev, name, shape, limits)]
            if ev.event_type == _TRAINING_STARTED and not any(
                    v.field.startswith(f"events[{i}].training_started") for v in out):
                shapes[ev.run_id] = shape_of(ev.training_started.config, limits)
        if len(out) >= MAX_VIOLATIONS:
            return out[:MAX_VIOLATIONS]
    out += check_drops(batch)
    return out[:MAX_VIOLATIONS]


# ---------------------------------------------------------------------------- fast path


def fast_ok(batch: tpb.EventBatch, declared: DeclaredShape, columns: Columns | None = None,
            raw: bytes | None = None, events: Sequence[tpb.TelemetryEvent] | None = None,
            limits: Limits = _DEFAULT_LIMITS) -> bool:
    """True only if no rule can find a violation in `batch` (False: run the rules)."""
    if events is None:
        events = list(batch.events)
    types = columns[0] if columns is not None else [e.event_type for e in events]
    run_ids = columns[1] if columns is not None else [e.run_id for e in events]
    if len(events) > MAX_EVENTS_PER_BATCH:
        return False
    drops = batch.drops
    if drops and (len(drops) > MAX_REPEATED
                  or not rules_fast.columns_ok(_DROP_PLAN, drops)):
        return False
    parts = _parts(raw)
    if not _sizes_within(events, raw, parts):
        return False
    # Doubles and timestamps on the bytes (rules_wire); False there only means "the rules
    # below check them too", never "invalid".
    wire = parts is not None and _WIRE.ok(parts)
    given = {"event_type": types, "run_id": run_ids}
    if columns is not None:
        given.update(producer_id=columns[2], seq=columns[3])
    if not rules_fast.columns_ok(_EVENT_PLAN, events, times=not wire, given=given):
        return False
    by_type = _BY_TYPE
    per_env = _PER_ENV
    total = 0.0
    one_run = bool(run_ids) and run_ids.count(run_ids[0]) == len(run_ids)
    shapes: dict[str, Shape] = {}
    shape = shape_of(declared(run_ids[0]), limits) if one_run else None
    if shape is not None:
        bulk = bulk_ok(events, types, _BULK_BY_TYPE, _PER_ENV, shape,
                       (_ONE_SLOT, _SEEDS, _DECISION), wire)
        if bulk is not None:
            return bulk
    for ev, t, run_id in zip(events, types, run_ids, strict=True):
        entry = by_type.get(t)
        if entry is None:
            return False
        name, fast, kind = entry
        if ev.WhichOneof("payload") != name:
            return False
        payload = getattr(ev, name)
        total += fast(payload)
        if not one_run:
            shape = shapes.get(run_id)
            if shape is None:
                shape = shapes[run_id] = shape_of(declared(run_id), limits)
        assert shape is not None
        if ev.HasField("env_id"):
            if ev.env_id >= shape[0]:
                return False
        elif name in per_env:
            return False
        if not kind:
            continue
        # The run rules of shape_violations, inlined for the frequent payloads.
        slots = shape[1]
        if kind == _ONE_SLOT:
            if slots is not None and payload.slot_id not in slots:
                return False
        elif kind == _SEEDS:
            if slots is not None and not slots.issuperset(map(_SLOT_ID, payload.seeds)):
                return False
        elif kind == _DECISION:
            card = payload.decision
            if card.env_id >= shape[0] or (slots is not None and card.slot_id
                                           and card.slot_id not in slots):
                return False
        else:
            if shape_violations(ev, name, shape, limits):
                return False
            shape = shapes[run_id] = shape_of(payload.config, limits)
    return math.isfinite(total)


def _parts(raw: bytes | None) -> Sequence[bytes] | None:
    """Each event's bytes of a batch received as `raw` (None: not received as bytes)."""
    if raw is None:
        return None
    try:
        return split_events(raw)
    except DecodeError:
        return None


def _sizes_within(events: Sequence[tpb.TelemetryEvent], raw: bytes | None,
                  parts: Sequence[bytes] | None) -> bool:
    """Every event serializes to at most rules.SIZE_IMPLIED bytes (`parts`: each event's
    bytes of `raw`, the batch as received)."""
    limit = rules.SIZE_IMPLIED
    if raw is not None:
        if len(raw) <= limit:
            return True
        return parts is not None and (not parts or max(map(len, parts)) <= limit)
    return all(ev.ByteSize() <= limit for ev in events)


def _raw_events_type() -> type[Message]:
    """A private message with EventBatch's field 1 as `repeated bytes`: parsing a batch's
    bytes with it yields each event's bytes (in C), without decoding them."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    proto = descriptor_pb2.FileDescriptorProto(name="sanctum_svc/raw_events.proto",
                                               package="sanctum_svc.internal", syntax="proto3")
    msg = proto.message_type.add(name="RawEvents")
    msg.field.add(name="events", number=1, type=FieldDescriptor.TYPE_BYTES,
                  label=FieldDescriptor.LABEL_REPEATED)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(
        pool.FindMessageTypeByName("sanctum_svc.internal.RawEvents"))


_RawEvents = _raw_events_type()


def split_events(batch_bytes: bytes) -> Sequence[bytes]:
    """Each event's bytes inside a serialized EventBatch (raises DecodeError)."""
    return _RawEvents.FromString(batch_bytes).events  # type: ignore[attr-defined, no-any-return]
