"""Field rules declared in the .proto files (buf.validate options), read from descriptors.

The contract states each field's rule once, as a protovalidate option (`finite`, integer
ranges, string lengths, repeated counts, defined enums, timestamp ranges, required oneofs),
so producers in any language see the same rules. This module turns those options into
plain data per message type (`Plan`) and evaluates them two ways:

- `walk(msg, prefix)` names every violation (`events[3].seq`: why), for the BadRequest;
- `rules_fast.fast_sum(plan, msg)` answers "certainly valid" cheaply: it returns the sum of every
  double (NaN/Inf propagate through a sum), or NaN as soon as any other rule fails.

Rules implied by size are left to the caller: a message that serializes to at most
`SIZE_IMPLIED` bytes cannot hold a longer string or more repeated entries, so only fields
with smaller limits are checked one by one. Every google.protobuf.Timestamp must also be a
valid timestamp by its own definition (seconds within years 1..9999, nanos in [0, 1e9)).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from buf.validate import validate_pb2 as vpb
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

_F = FieldDescriptor
_DOUBLES = (_F.TYPE_DOUBLE, _F.TYPE_FLOAT)
_INTS = (_F.TYPE_INT32, _F.TYPE_INT64, _F.TYPE_UINT32, _F.TYPE_UINT64, _F.TYPE_SINT32,
         _F.TYPE_SINT64, _F.TYPE_FIXED32, _F.TYPE_FIXED64, _F.TYPE_SFIXED32, _F.TYPE_SFIXED64)
_TIMESTAMP = "google.protobuf.Timestamp"
#: The range of a valid google.protobuf.Timestamp: 0001-01-01T00:00:00Z..9999-12-31T23:59:59.
TS_MIN = (-62135596800, 0)
TS_MAX = (253402300799, 999_999_999)

Bound = tuple[int, int]  # (seconds, nanos)


def field_rules(f: FieldDescriptor) -> vpb.FieldRules | None:
    opts = f.GetOptions()
    return opts.Extensions[vpb.field] if opts.HasExtension(vpb.field) else None


def max_items(message: Any, name: str) -> int:
    """The declared max_items of a repeated field (used where a limit is also a constant)."""
    rules = field_rules(message.DESCRIPTOR.fields_by_name[name])
    assert rules is not None and rules.repeated.HasField("max_items"), name
    return int(rules.repeated.max_items)


def max_bytes(message: Any, name: str) -> int:
    rules = field_rules(message.DESCRIPTOR.fields_by_name[name])
    assert rules is not None and rules.string.HasField("max_bytes"), name
    return int(rules.string.max_bytes)


@dataclass
class Scalar:
    """The rule of one value (a singular field, or each item of a repeated one)."""

    finite: bool = False
    lo: int | None = None
    hi: int | None = None
    min_len: int = 0
    max_len: int | None = None
    max_bytes: int | None = None
    defined: frozenset[int] | None = None
    not_in: frozenset[int] = frozenset()
    ts_lo: Bound = TS_MIN
    ts_hi: Bound = TS_MAX

    def check(self, value: Any, f: FieldDescriptor) -> str | None:
        """Why `value` breaks this rule, or None."""
        if f.type in _DOUBLES:
            if self.finite and not math.isfinite(value):
                return f"{value!r} is not a finite number"
        elif f.type in _INTS:
            if (self.lo is not None and value < self.lo) or (
                    self.hi is not None and value > self.hi):
                return f"{value} is out of range [{self.lo or 0}, {self.hi}]"
        elif f.type == _F.TYPE_ENUM:
            if value in self.not_in or (self.defined is not None and value not in self.defined):
                name = f.enum_type.name
                return f"{value} is not a defined {name}" if value else f"{name} is unspecified"
        elif f.type == _F.TYPE_STRING:
            if len(value) < self.min_len:
                return "is required" if self.min_len == 1 else f"shorter than {self.min_len}"
            if self.max_len is not None and len(value) > self.max_len:
                return f"longer than {self.max_len} characters"
            if self.max_bytes is not None and len(value) > self.max_bytes // 4:
                size = len(value.encode())
                if size > self.max_bytes:
                    return f"{size} bytes; the limit is {self.max_bytes}"
        elif f.type == _F.TYPE_BYTES:
            if self.max_bytes is not None and len(value) > self.max_bytes:
                return f"{len(value)} bytes; the limit is {self.max_bytes}"
        elif f.type == _F.TYPE_MESSAGE and f.message_type.full_name == _TIMESTAMP:
            t = (value.seconds, value.nanos)
            if not 0 <= value.nanos < 1_000_000_000:
                return f"nanos {value.nanos} outside [0, 1e9)"
            if not self.ts_lo <= t <= self.ts_hi:
                return (f"{value.seconds}s outside [{_iso(self.ts_lo)}, {_iso(self.ts_hi)}] "
                        "(years 1..9999)")
        return None


@dataclass
class Rule:
    """The declared rule of one field."""

    f: FieldDescriptor
    value: Scalar
    max_items: int | None = None


def _bound(ts: Any) -> Bound:
    return (int(ts.seconds), int(ts.nanos))


def _iso(b: Bound) -> str:
    return {TS_MIN: "0001-01-01T00:00:00Z", TS_MAX: "9999-12-31T23:59:59.999999999Z"}.get(
        b, f"{b[0]}s+{b[1]}ns")


def _scalar(rules: vpb.FieldRules | None, f: FieldDescriptor) -> Scalar:
    out = Scalar()
    if rules is None:
        return out
    kind = rules.WhichOneof("type")
    if kind is None:
        return out
    r = getattr(rules, kind)
    if kind in ("double", "float"):
        out.finite = r.finite
    elif kind == "string":
        out.min_len = int(r.min_len)
        out.max_len = int(r.max_len) if r.HasField("max_len") else None
        out.max_bytes = int(r.max_bytes) if r.HasField("max_bytes") else None
    elif kind == "bytes":
        out.max_bytes = int(r.max_len) if r.HasField("max_len") else None
    elif kind == "enum":
        if r.defined_only:
            out.defined = frozenset(v.number for v in f.enum_type.values)
        out.not_in = frozenset(r.not_in)
    elif kind == "timestamp":
        if r.HasField("gte"):
            out.ts_lo = max(out.ts_lo, _bound(r.gte))
        if r.HasField("lte"):
            out.ts_hi = min(out.ts_hi, _bound(r.lte))
    elif kind != "repeated" and f.type in _INTS:
        if r.HasField("gte"):
            out.lo = int(r.gte)
        elif r.HasField("gt"):
            out.lo = int(r.gt) + 1
        if r.HasField("lte"):
            out.hi = int(r.lte)
        elif r.HasField("lt"):
            out.hi = int(r.lt) - 1
    return out


def _active(s: Scalar, f: FieldDescriptor) -> bool:
    return bool(s.finite or s.lo is not None or s.hi is not None or s.min_len
                or s.max_len is not None or s.max_bytes is not None or s.defined is not None
                or s.not_in or (f.type == _F.TYPE_MESSAGE
                                and f.message_type.full_name == _TIMESTAMP))


Getter = Callable[[Message], Any]


@dataclass
class Plan:
    """The rules of one message type, as data (built once per type from its descriptor).

    `rules`, `messages` and `required_oneofs` serve `walk`; the rest is the fast form
    (see `fast_sum`), where an unset sub-message reads as defaults, which pass or only
    send the batch the slow way.
    """

    rules: list[Rule] = field(default_factory=list)
    messages: list[tuple[FieldDescriptor, Plan]] = field(default_factory=list)
    required_oneofs: list[str] = field(default_factory=list)
    doubles: Getter | None = None
    n_doubles: int = 0
    double_names: tuple[str, ...] = ()
    rep_doubles: tuple[Getter, ...] = ()
    ints: tuple[tuple[Getter, int, int], ...] = ()
    #: The field names of `ints`, `strs` and `enums`, in the same order.
    int_names: tuple[str, ...] = ()
    str_names: tuple[str, ...] = ()
    enum_names: tuple[str, ...] = ()
    strs: tuple[tuple[Getter, int, int, int], ...] = ()
    enums: tuple[tuple[Getter, frozenset[int] | None, frozenset[int]], ...] = ()
    times: tuple[tuple[Getter, Bound, Bound], ...] = ()
    rep_counts: tuple[tuple[Getter, int], ...] = ()
    rep_subs: tuple[tuple[Getter, Plan], ...] = ()
    subs: tuple[tuple[Getter, Plan], ...] = ()
    oneofs: tuple[tuple[str, dict[str, Plan]], ...] = ()
    fast: Callable[[Message], float] = field(default=lambda m: 0.0)


#: Sizes at or below which strings and repeated fields need no check of their own.
SIZE_IMPLIED = 4096


_PLANS: dict[str, Plan] = {}


def plan_for(desc: Descriptor) -> Plan:
    """The rule plan of a message type (recursive types share their plan)."""
    plan = _PLANS.get(desc.full_name)
    if plan is not None:
        return plan
    plan = _PLANS[desc.full_name] = Plan()
    for f in desc.fields:
        rules = field_rules(f)
        rep = f.is_repeated
        s = _scalar(rules.repeated.items if rules is not None and rep else rules, f)
        count = (int(rules.repeated.max_items) if rules is not None and rep
                 and rules.repeated.HasField("max_items") else None)
        if _active(s, f) or count is not None:
            plan.rules.append(Rule(f, s, count))
        if f.type == _F.TYPE_MESSAGE and f.message_type.full_name != _TIMESTAMP:
            plan.messages.append((f, plan_for(f.message_type)))
    for o in desc.oneofs:
        opts = o.GetOptions()
        if opts.HasExtension(vpb.oneof) and opts.Extensions[vpb.oneof].required:
            plan.required_oneofs.append(o.name)
    from sanctum_svc.rules_fast import compile_fast  # it builds on this module

    compile_fast(plan, desc)
    return plan


def walk(msg: Message, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(path, why) of every declared rule that `msg` breaks, in field order."""
    plan = plan_for(msg.DESCRIPTOR)
    for rule in plan.rules:
        f = rule.f
        path = f"{prefix}.{f.name}"
        if f.is_repeated:
            values = getattr(msg, f.name)
            if rule.max_items is not None and len(values) > rule.max_items:
                yield path, f"{len(values)} entries; the limit is {rule.max_items}"
                continue
            for k, v in enumerate(values):
                why = rule.value.check(v, f)
                if why is not None:
                    yield f"{path}[{k}]", why
        elif not f.has_presence or msg.HasField(f.name):
            why = rule.value.check(getattr(msg, f.name), f)
            if why is not None:
                yield path, why
    for name in plan.required_oneofs:
        if msg.WhichOneof(name) is None:
            yield f"{prefix}.{name}", f"{name} is required; none was set"
    for f, _ in plan.messages:
        if f.is_repeated:
            for k, sub in enumerate(getattr(msg, f.name)):
                yield from walk(sub, f"{prefix}.{f.name}[{k}]")
        elif msg.HasField(f.name):
            yield from walk(getattr(msg, f.name), f"{prefix}.{f.name}")
