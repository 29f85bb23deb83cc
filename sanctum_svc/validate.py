"""Batch validation: pure functions, one per rule, run over a WHOLE batch before anything
from it is persisted or applied.

Each rule returns `Violation`s naming the offending field the way google.rpc.BadRequest
wants it (`events[3].ppo_update.policy_loss`). Those rules are the specification. Ingest
first runs `fast_ok`, one tight pass over the batch that can only answer "certainly valid"
(the common case: then the rules cannot find anything) or "look closer"; only then do the
rules run and name the fields. `fast_ok` runs one checker per event, generated once per
event type from the descriptors: it sums the payload's doubles (NaN/Inf propagate through a
sum) and checks payload and shape on the way. Event sizes come from the bytes as received.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from operator import attrgetter

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, Message

from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_common.events import PAYLOAD_FOR_TYPE, type_name
from sanctum_svc.config import MAX_EVENTS_PER_BATCH, MAX_REPEATED, MAX_STRING_BYTES

#: Stop collecting after this many violations: the first few are what a user needs.
MAX_VIOLATIONS = 20

_DOUBLE_TYPES = (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT)


@dataclass(frozen=True)
class Violation:
    """One bad field: its path in the IngestRequest.batch and what is wrong with it."""

    field: str
    description: str


DeclaredShape = Callable[[str], "tpb.RunConfig | None"]

#: Envelope columns of a batch's events: (event_types, run_ids, producer_ids, seqs).
Columns = tuple[list[int], list[str], list[str], list[int]]


def envelope_columns(events: Sequence[tpb.TelemetryEvent]) -> Columns:
    """The envelope fields every rule and the dedupe read, extracted once per batch."""
    return ([e.event_type for e in events], [e.run_id for e in events],
            [e.producer_id for e in events], [e.seq for e in events])


def clip(text: str, limit: int = 80) -> str:
    """`text` cut to `limit` characters: descriptions echo client input, and gRPC refuses
    trailers over 8 KiB (the client would see RESOURCE_EXHAUSTED instead of the detail)."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


# ---------------------------------------------------------------------------- rules


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


def check_identity(i: int, ev: tpb.TelemetryEvent) -> list[Violation]:
    """run_id and producer_id are required and short; seq starts at 1."""
    out = []
    p = f"events[{i}]"
    for name in ("run_id", "producer_id"):
        value = getattr(ev, name)
        if not value:
            out.append(Violation(f"{p}.{name}", f"{name} is required"))
        elif len(value) > 256:
            out.append(Violation(f"{p}.{name}", f"{name} longer than 256 characters"))
    if ev.seq == 0:
        out.append(Violation(f"{p}.seq", "seq must be >= 1 (per producer, +1 per event)"))
    return out


def check_payload(i: int, ev: tpb.TelemetryEvent) -> list[Violation]:
    """event_type is a known type and the payload is the one that type carries."""
    p = f"events[{i}]"
    expected = PAYLOAD_FOR_TYPE.get(ev.event_type)
    if expected is None:
        what = "unspecified" if ev.event_type == 0 else f"unknown ({ev.event_type})"
        return [Violation(f"{p}.event_type", f"event_type is {what}")]
    actual = ev.WhichOneof("payload")
    if actual is None:
        return [Violation(f"{p}.payload", f"{type_name(ev.event_type)} needs a {expected} "
                                          "payload; none was set")]
    if actual != expected:
        return [Violation(f"{p}.{actual}", f"{type_name(ev.event_type)} carries {expected}, "
                                           f"not {actual}")]
    return []


def check_finite(i: int, ev: tpb.TelemetryEvent) -> list[Violation]:
    """No NaN or ±Inf anywhere in the payload (nested and repeated doubles included)."""
    name = ev.WhichOneof("payload")
    if name is None:
        return []
    payload = getattr(ev, name)
    try:
        if math.isfinite(_double_sum(payload)):
            return []
    except OverflowError:
        pass
    return [Violation(f"events[{i}].{name}{path}", f"{value!r} is not a finite number")
            for path, value in _non_finite(payload)][:MAX_VIOLATIONS]


def check_sizes(i: int, ev: tpb.TelemetryEvent, serialized_size: int) -> list[Violation]:
    """Strings up to MAX_STRING_BYTES, repeated fields up to MAX_REPEATED entries.

    An event whose serialized size is within MAX_STRING_BYTES cannot break either limit, so
    the walk only runs for big events.
    """
    if serialized_size <= MAX_STRING_BYTES:
        return []
    return [Violation(f"events[{i}]{path}", why) for path, why in _oversized(ev)][
        :MAX_VIOLATIONS]


def check_shape(i: int, ev: tpb.TelemetryEvent, cfg: tpb.RunConfig | None) -> list[Violation]:
    """Env ids below the declared n_envs; slot ids among the declared slot_ids.

    Per-env events (epochs, seed lifecycle) must name their env. Nothing is checked against
    a shape the run has not declared yet (no TRAINING_STARTED seen).
    """
    p = f"events[{i}]"
    name = ev.WhichOneof("payload")
    out: list[Violation] = []
    if name in _PER_ENV and not ev.HasField("env_id"):
        out.append(Violation(f"{p}.env_id", f"{type_name(ev.event_type)} needs env_id"))
    if cfg is None:
        return out
    n_envs = cfg.n_envs
    if n_envs and ev.HasField("env_id") and ev.env_id >= n_envs:
        out.append(Violation(f"{p}.env_id",
                             f"env_id {ev.env_id} >= n_envs {n_envs} declared by the run"))
    slots = cfg.slot_ids
    if slots:
        for path, slot in _slot_ids(name, ev):
            if slot not in slots:
                declared = clip(repr(list(slots)))
                out.append(Violation(f"{p}.{path}", f"slot {clip(repr(slot))} is not one of "
                                                    f"the run's slot_ids {declared}"))
    if name == "analytics_snapshot" and n_envs:
        card = ev.analytics_snapshot.decision
        if card.env_id >= n_envs:
            out.append(Violation(f"{p}.analytics_snapshot.decision.env_id",
                                 f"env_id {card.env_id} >= n_envs {n_envs}"))
    return out


def check_drops(batch: tpb.EventBatch) -> list[Violation]:
    """Drop reports name their run and producer."""
    out = []
    for j, d in enumerate(batch.drops):
        for name in ("run_id", "producer_id"):
            if not getattr(d, name):
                out.append(Violation(f"drops[{j}].{name}", f"{name} is required"))
    return out


# ---------------------------------------------------------------------------- the batch


def validate_batch(
    batch: tpb.EventBatch,
    declared: DeclaredShape,
    serialized: list[bytes] | None = None,
    columns: Columns | None = None,
    raw: bytes | None = None,
    events: Sequence[tpb.TelemetryEvent] | None = None,
) -> list[Violation]:
    """Every violation in the batch (up to MAX_VIOLATIONS); empty means accept it whole.

    `declared(run_id)` gives the shape a run declared earlier; a TRAINING_STARTED inside
    the batch declares it for the events after it. `serialized` (each event's bytes, if the
    caller already has them) saves re-measuring sizes; `columns` (envelope_columns of the
    batch's events), `raw` (the batch's bytes as received) and `events` (list(batch.events))
    save re-reading them.
    """
    if fast_ok(batch, declared, columns, raw, events):
        return []
    out = check_batch_size(batch)
    if out:
        return out
    local: dict[str, tpb.RunConfig] = {}
    for i, ev in enumerate(batch.events):
        out += check_identity(i, ev)
        bad_payload = check_payload(i, ev)
        out += bad_payload
        if not bad_payload:
            out += check_finite(i, ev)
        size = len(serialized[i]) if serialized is not None else ev.ByteSize()
        out += check_sizes(i, ev, size)
        if not bad_payload:
            cfg = local.get(ev.run_id) or declared(ev.run_id)
            out += check_shape(i, ev, cfg)
            if ev.event_type == tpb.EVENT_TYPE_TRAINING_STARTED:
                local[ev.run_id] = ev.training_started.config
        if len(out) >= MAX_VIOLATIONS:
            return out[:MAX_VIOLATIONS]
    out += check_drops(batch)
    return out[:MAX_VIOLATIONS]


# ---------------------------------------------------------------------------- helpers

_PER_ENV = frozenset({"epoch_completed", "seed_germinated", "seed_stage_changed",
                      "seed_gate_evaluated", "seed_fossilized", "seed_pruned"})
_SINGLE_SLOT = frozenset({"seed_germinated", "seed_stage_changed", "seed_gate_evaluated",
                          "seed_fossilized", "seed_pruned"})


def _slot_ids(name: str | None, ev: tpb.TelemetryEvent) -> Iterator[tuple[str, str]]:
    if name in _SINGLE_SLOT:
        yield f"{name}.slot_id", getattr(ev, name).slot_id
    elif name == "epoch_completed":
        for k, seed in enumerate(ev.epoch_completed.seeds):
            yield f"epoch_completed.seeds[{k}].slot_id", seed.slot_id
    elif name == "analytics_snapshot":
        slot = ev.analytics_snapshot.decision.slot_id
        if slot:  # WAIT decisions name no slot
            yield "analytics_snapshot.decision.slot_id", slot


@dataclass(frozen=True)
class _Plan:
    """Which fields of one message type hold doubles, directly or below."""

    scalars: Callable[[Message], tuple[float, ...]] | None
    repeated: tuple[str, ...]
    messages: tuple[str, ...]
    repeated_messages: tuple[str, ...]


_PLANS: dict[str, _Plan] = {}


def _plan(desc: Descriptor) -> _Plan:
    plan = _PLANS.get(desc.full_name)
    if plan is not None:
        return plan
    scalars, repeated, messages, rep_messages = [], [], [], []
    for f in desc.fields:
        is_rep = f.is_repeated
        if f.type in _DOUBLE_TYPES:
            (repeated if is_rep else scalars).append(f.name)
        elif f.type == FieldDescriptor.TYPE_MESSAGE and _has_doubles(f.message_type, set()):
            (rep_messages if is_rep else messages).append(f.name)
    getter = None
    if len(scalars) == 1:
        only = scalars[0]
        getter = lambda m: (getattr(m, only),)  # noqa: E731
    elif scalars:
        getter = attrgetter(*scalars)
    plan = _Plan(getter, tuple(repeated), tuple(messages), tuple(rep_messages))
    _PLANS[desc.full_name] = plan
    return plan


def _has_doubles(desc: Descriptor, seen: set[str]) -> bool:
    if desc.full_name in seen:
        return False
    seen.add(desc.full_name)
    for f in desc.fields:
        if f.type in _DOUBLE_TYPES:
            return True
        if f.type == FieldDescriptor.TYPE_MESSAGE and _has_doubles(f.message_type, seen):
            return True
    return False


def _double_sum(msg: Message) -> float:
    """Sum of every double below msg: finite iff all of them are (barring overflow)."""
    plan = _plan(msg.DESCRIPTOR)
    total = sum(plan.scalars(msg)) if plan.scalars is not None else 0.0
    for name in plan.repeated:
        total += sum(getattr(msg, name))
    for name in plan.messages:
        if msg.HasField(name):
            total += _double_sum(getattr(msg, name))
    for name in plan.repeated_messages:
        for sub in getattr(msg, name):
            total += _double_sum(sub)
    return total


def _non_finite(msg: Message, prefix: str = "") -> Iterator[tuple[str, float]]:
    """(path, value) of each NaN/Inf below msg, in field order."""
    for f, value in msg.ListFields():
        path = f"{prefix}.{f.name}"
        if f.type in _DOUBLE_TYPES:
            if f.is_repeated:
                for k, v in enumerate(value):
                    if not math.isfinite(v):
                        yield f"{path}[{k}]", v
            elif not math.isfinite(value):
                yield path, value
        elif f.type == FieldDescriptor.TYPE_MESSAGE:
            if f.message_type.GetOptions().map_entry:
                for key in value:
                    sub = value[key]
                    if isinstance(sub, Message):
                        yield from _non_finite(sub, f"{path}[{key!r}]")
            elif f.is_repeated:
                for k, sub in enumerate(value):
                    yield from _non_finite(sub, f"{path}[{k}]")
            else:
                yield from _non_finite(value, path)


def _oversized(msg: Message, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(path, why) for strings/bytes over MAX_STRING_BYTES and repeated over MAX_REPEATED."""
    for f, value in msg.ListFields():
        path = f"{prefix}.{f.name}"
        is_rep = f.is_repeated
        if is_rep and len(value) > MAX_REPEATED:
            yield path, f"{len(value)} entries; the limit is {MAX_REPEATED}"
            continue
        if f.type in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES):
            items = value if is_rep else [value]
            for k, s in enumerate(items):
                size = len(s.encode() if isinstance(s, str) else s)
                if size > MAX_STRING_BYTES:
                    where = f"{path}[{k}]" if is_rep else path
                    yield where, f"{size} bytes; the limit is {MAX_STRING_BYTES}"
        elif f.type == FieldDescriptor.TYPE_MESSAGE and not f.message_type.GetOptions(
        ).map_entry:
            subs = value if is_rep else [value]
            for k, sub in enumerate(subs):
                yield from _oversized(sub, f"{path}[{k}]" if is_rep else path)


# ---------------------------------------------------------------------------- fast path


def fast_ok(batch: tpb.EventBatch, declared: DeclaredShape, columns: Columns | None = None,
            raw: bytes | None = None, events: Sequence[tpb.TelemetryEvent] | None = None
            ) -> bool:
    """True only if no rule above can find a violation in `batch` (False: run the rules).

    Every test here is a sufficient condition for one rule passing; anything unusual
    (drops without identity, an overflowing sum, a big event) answers False and leaves the
    verdict to the rules.
    """
    if events is None:
        events = list(batch.events)
    types, run_ids, producer_ids, seqs = columns or envelope_columns(events)
    n = len(types)
    if n > MAX_EVENTS_PER_BATCH:
        return False
    drops = batch.drops
    if drops and (len(drops) > MAX_REPEATED
                  or not all(d.run_id and d.producer_id for d in drops)):
        return False
    # check_identity
    if 0 in seqs or not all(run_ids) or not all(producer_ids):
        return False
    if n and (max(map(len, set(run_ids))) > 256 or max(map(len, set(producer_ids))) > 256):
        return False
    # check_sizes: an event within MAX_STRING_BYTES cannot break a size limit
    if not _sizes_within(events, raw):
        return False
    # check_payload, check_finite, check_shape: one generated checker per event type
    checkers = _CHECKERS
    total = 0.0
    if n and run_ids.count(run_ids[0]) == n:  # one run: one declared shape
        n_envs, slots = _shape_of(declared(run_ids[0]))
        for ev, t in zip(events, types, strict=True):
            check = checkers.get(t)
            if check is None:
                return False
            total += check(ev, n_envs, slots)
            if t == _TRAINING_STARTED:
                n_envs, slots = _shape_of(ev.training_started.config)
        return math.isfinite(total)
    shapes: dict[str, tuple[int, frozenset[str]]] = {}
    for ev, t, run_id in zip(events, types, run_ids, strict=True):
        check = checkers.get(t)
        if check is None:
            return False
        shape = shapes.get(run_id)
        if shape is None:
            shape = shapes[run_id] = _shape_of(declared(run_id))
        total += check(ev, *shape)
        if t == _TRAINING_STARTED:
            shapes[run_id] = _shape_of(ev.training_started.config)
    return math.isfinite(total)


def _shape_of(cfg: tpb.RunConfig | None) -> tuple[int, frozenset[str]]:
    if cfg is None:
        return 0, frozenset()
    return cfg.n_envs, frozenset(cfg.slot_ids)


def _sizes_within(events: Sequence[tpb.TelemetryEvent], raw: bytes | None) -> bool:
    """Every event serializes to at most MAX_STRING_BYTES."""
    if raw is not None:
        if len(raw) <= MAX_STRING_BYTES:
            return True
        try:
            sizes = _RawEvents.FromString(raw).events
        except DecodeError:
            return False
        return not sizes or max(map(len, sizes)) <= MAX_STRING_BYTES
    return all(ev.ByteSize() <= MAX_STRING_BYTES for ev in events)


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


_TRAINING_STARTED = tpb.EVENT_TYPE_TRAINING_STARTED

#: Shape checks per payload, in the generated checkers (p = payload, d = p.decision).
_SHAPE_SNIPPETS = {
    **dict.fromkeys(_SINGLE_SLOT, ["if slots and p.slot_id not in slots:", "    return _NAN"]),
    "analytics_snapshot": [
        "d = p.decision",
        "if n_envs and d.env_id >= n_envs:", "    return _NAN",
        "if slots and d.slot_id and d.slot_id not in slots:", "    return _NAN"],
}
#: Shape checks run on each element of a top-level repeated field ({x} = the element).
_ELEMENT_SNIPPETS = {
    ("epoch_completed", "seeds"): ["if slots and {x}.slot_id not in slots:",
                                   "    return _NAN"],
}


def _checker_source(name: str, desc: Descriptor, per_env: bool) -> list[str]:
    """Source of `_check_<name>(ev, n_envs, slots) -> float`: the sum of every double of an
    event with payload `name` when its payload and shape pass, NaN otherwise ("look
    closer"). Unset singular sub-messages read as zeros, so no presence checks are needed;
    a recursive type falls back to `_double_sum` below its first level."""
    lines = [f"def _check_{name}(ev, n_envs, slots):",
             f"    if ev.WhichOneof('payload') != {name!r}:", "        return _NAN"]
    if per_env:
        lines += ["    if not ev.HasField('env_id'):", "        return _NAN"]
    lines += ["    if n_envs and ev.env_id >= n_envs:", "        return _NAN",
              f"    p = ev.{name}", "    s = 0.0"]
    counter = [0]

    def body(d: Descriptor, var: str, indent: str, stack: tuple[str, ...],
             top: bool) -> list[str]:
        out: list[str] = []
        scalars = [f.name for f in d.fields if f.type in _DOUBLE_TYPES and not f.is_repeated]
        if scalars:
            out.append(f"{indent}s += " + " + ".join(f"{var}.{x}" for x in scalars))
        for f in d.fields:
            if f.type in _DOUBLE_TYPES and f.is_repeated:
                out.append(f"{indent}s += sum({var}.{f.name})")
            elif f.type != FieldDescriptor.TYPE_MESSAGE:
                continue
            elif f.message_type.GetOptions().map_entry:
                value = f.message_type.fields_by_name["value"]
                if value.type in _DOUBLE_TYPES:
                    out.append(f"{indent}s += sum({var}.{f.name}.values())")
                elif value.type == FieldDescriptor.TYPE_MESSAGE and _has_doubles(
                        value.message_type, set()):
                    out.append(f"{indent}for v in {var}.{f.name}.values():")
                    out.append(f"{indent}    s += _double_sum(v)")
            else:
                extra = _ELEMENT_SNIPPETS.get((name, f.name), []) if top else []
                has = _has_doubles(f.message_type, set())
                if not has and not extra:
                    continue
                counter[0] += 1
                sub = f"x{counter[0]}"
                if f.message_type.full_name in stack:
                    inner = [f"{indent}    s += _double_sum({sub})"]
                elif has:
                    inner = body(f.message_type, sub, indent + "    ",
                                 (*stack, f.message_type.full_name), False)
                else:
                    inner = []
                inner += [indent + "    " + line.format(x=sub) for line in extra]
                if f.is_repeated:
                    out.append(f"{indent}for {sub} in {var}.{f.name}:")
                    out += inner
                else:
                    out.append(f"{indent}if True:")
                    out.append(f"{indent}    {sub} = {var}.{f.name}")
                    out += inner
        return out

    lines += body(desc, "p", "    ", (desc.full_name,), True)
    lines += ["    " + line for line in _SHAPE_SNIPPETS.get(name, [])]
    lines += ["    return s", ""]
    return lines


def _checkers() -> dict[int, Callable[[tpb.TelemetryEvent, int, frozenset[str]], float]]:
    oneof = tpb.TelemetryEvent.DESCRIPTOR.oneofs_by_name["payload"]
    types = {f.name: f.message_type for f in oneof.fields}
    env: dict[str, object] = {"_double_sum": _double_sum, "_NAN": math.nan}
    source: list[str] = []
    for name in sorted(set(PAYLOAD_FOR_TYPE.values())):
        source += _checker_source(name, types[name], name in _PER_ENV)
    exec("\n".join(source), env)  # noqa: S102 - generated above from the descriptors
    return {t: env[f"_check_{name}"] for t, name in PAYLOAD_FOR_TYPE.items()}  # type: ignore[misc]


#: Event type -> checker (see `_checker_source`).
_CHECKERS = _checkers()
