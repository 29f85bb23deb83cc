"""Field rules declared in the .proto files (buf.validate options), read from descriptors.

The contract states each field's rule once, as a protovalidate option (`finite`, integer
ranges, string lengths, repeated counts, defined enums, timestamp ranges, required oneofs),
so producers in any language see the same rules. This module turns those options into
plain data per message type (`Plan`) and evaluates them two ways:

- `walk(msg, prefix)` names every violation (`events[3].seq`: why), for the BadRequest;
- `fast_sum(plan, msg)` answers "certainly valid" cheaply: it returns the sum of every
  double (NaN/Inf propagate through a sum), or NaN as soon as any other rule fails.

Rules implied by size are left to the caller: a message that serializes to at most
`SIZE_IMPLIED` bytes cannot hold a longer string or more repeated entries, so only fields
with smaller limits are checked one by one. Every google.protobuf.Timestamp must also be a
valid timestamp by its own definition (seconds within years 1..9999, nanos in [0, 1e9)).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from operator import attrgetter
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
_UNBOUNDED = 1 << 62

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
    fast = _Fast()
    _flatten(desc, "", fast, (desc.full_name,))
    fast.into(plan)
    plan.fast = _compile(plan)
    return plan


@dataclass
class _Fast:
    doubles: list[str] = field(default_factory=list)
    rep_doubles: list[str] = field(default_factory=list)
    ints: list[tuple[str, int, int]] = field(default_factory=list)
    strs: list[tuple[str, int, int, int]] = field(default_factory=list)
    enums: list[tuple[str, frozenset[int] | None, frozenset[int]]] = field(default_factory=list)
    times: list[tuple[str, Bound, Bound]] = field(default_factory=list)
    rep_counts: list[tuple[str, int]] = field(default_factory=list)
    rep_subs: list[tuple[str, Plan]] = field(default_factory=list)
    subs: list[tuple[str, Plan]] = field(default_factory=list)
    oneofs: list[tuple[str, dict[str, Plan]]] = field(default_factory=list)

    def into(self, plan: Plan) -> None:
        g = attrgetter
        plan.doubles = g(*self.doubles) if self.doubles else None
        plan.n_doubles = len(self.doubles)
        plan.double_names = tuple(self.doubles)
        plan.rep_doubles = tuple(g(p) for p in self.rep_doubles)
        plan.ints = tuple((g(p), lo, hi) for p, lo, hi in self.ints)
        plan.strs = tuple((g(p), a, b, c) for p, a, b, c in self.strs)
        plan.enums = tuple((g(p), a, b) for p, a, b in self.enums)
        plan.times = tuple((g(p), a, b) for p, a, b in self.times)
        plan.rep_counts = tuple((g(p), n) for p, n in self.rep_counts)
        plan.rep_subs = tuple((g(p), sub) for p, sub in self.rep_subs)
        plan.subs = tuple((g(p), sub) for p, sub in self.subs)
        plan.oneofs = tuple(self.oneofs)


def _flatten(desc: Descriptor, prefix: str, out: _Fast, stack: tuple[str, ...]) -> None:
    """Collect the fast checks of `desc`'s fields (`prefix` is for oneof members)."""
    oneofs: dict[str, dict[str, Plan]] = {}
    for f in desc.fields:
        path = prefix + f.name
        rules = field_rules(f)
        rep = f.is_repeated
        s = _scalar(rules.repeated.items if rules is not None and rep else rules, f)
        if rep and rules is not None and rules.repeated.HasField("max_items") \
                and rules.repeated.max_items < SIZE_IMPLIED:
            out.rep_counts.append((path, int(rules.repeated.max_items)))
        is_msg = f.type == _F.TYPE_MESSAGE
        if is_msg and f.message_type.full_name == _TIMESTAMP:
            if rep:
                raise NotImplementedError(f"{f.full_name}: repeated timestamps")
            out.times.append((path, s.ts_lo, s.ts_hi))
        elif is_msg:
            sub = f.message_type
            if _real_oneof(f):
                if prefix:
                    raise NotImplementedError(f"{f.full_name}: oneof below the top level")
                oneofs.setdefault(f.containing_oneof.name, {})[f.name] = plan_for(sub)
            elif rep:
                out.rep_subs.append((path, plan_for(sub)))
            else:  # one read of the sub-message, then its own plan
                out.subs.append((path, plan_for(sub)))
        elif f.type in _DOUBLES:
            if s.finite:
                (out.rep_doubles if rep else out.doubles).append(path)
        elif not _active(s, f) or _implied(s):
            continue
        elif rep:
            raise NotImplementedError(f"{f.full_name}: item rules beyond size/finite")
        elif f.type in _INTS:
            lo = s.lo if s.lo is not None else -_UNBOUNDED * 4
            hi = s.hi if s.hi is not None else _UNBOUNDED * 4
            out.ints.append((path, lo, hi))
        elif f.type == _F.TYPE_ENUM:
            out.enums.append((path, s.defined, s.not_in))
        elif f.type in (_F.TYPE_STRING, _F.TYPE_BYTES):
            mx = s.max_len if s.max_len is not None else _UNBOUNDED
            mb = s.max_bytes if s.max_bytes is not None else _UNBOUNDED
            out.strs.append((path, s.min_len, mx, mb))
    out.oneofs += oneofs.items()


def _real_oneof(f: FieldDescriptor) -> bool:
    """Whether `f` is in a declared oneof (not the synthetic one of a proto3 `optional`)."""
    o = f.containing_oneof
    return o is not None and not (len(o.fields) == 1 and o.name == f"_{f.name}")


def _implied(s: Scalar) -> bool:
    """Whether a string/bytes rule holds for any value of at most SIZE_IMPLIED bytes."""
    if s.min_len or s.defined is not None or s.not_in or s.lo is not None or s.hi is not None:
        return False
    limits = [x for x in (s.max_len, s.max_bytes) if x is not None]
    return bool(limits) and min(limits) >= SIZE_IMPLIED and not s.finite


def fast_sum(plan: Plan, msg: Message) -> float:
    """Sum of the doubles below `msg` if every rule that size does not imply holds; NaN
    otherwise ("look closer")."""
    return plan.fast(msg)


def columns_ok(plan: Plan, msgs: Sequence[Message]) -> bool:
    """The checks (not the doubles) of `plan` on many messages at once, a column at a time:
    for the envelope fields of a batch's events."""
    for get, lo, hi in plan.ints:
        values = list(map(get, msgs))
        if values and (min(values) < lo or max(values) > hi):
            return False
    for get, mn, mx, mb in plan.strs:
        values = set(map(get, msgs))
        if values and not all(_str_ok(v, mn, mx, mb) for v in values):
            return False
    for get, defined, not_in in plan.enums:
        values = set(map(get, msgs))
        if values & not_in or (defined is not None and not values <= defined):
            return False
    for get, lo, hi in plan.times:
        stamps = list(map(get, msgs))
        if stamps and not _times_ok(stamps, lo, hi):
            return False
    return all(len(get(m)) <= limit for get, limit in plan.rep_counts for m in msgs)


def _str_ok(v: str, mn: int, mx: int, mb: int) -> bool:
    n = len(v)
    return mn <= n <= mx and (n * 4 <= mb or len(v.encode()) <= mb)


def _times_ok(stamps: list[Any], lo: Bound, hi: Bound) -> bool:
    seconds = [t.seconds for t in stamps]
    nanos = [t.nanos for t in stamps]
    if min(nanos) < 0 or max(nanos) >= 1_000_000_000:
        return False
    if lo[0] < min(seconds) and max(seconds) < hi[0]:
        return True
    return all(lo <= (t.seconds, t.nanos) <= hi for t in stamps)


def _compile(plan: Plan) -> Callable[[Message], float]:
    """plan.fast: a closure over only the parts of `plan` that exist (no generated code)."""
    parts: list[Callable[[Message], float]] = []
    if plan.ints or plan.strs or plan.enums or plan.times or plan.rep_counts:
        parts.append(lambda m: 0.0 if columns_ok(plan, (m,)) else math.nan)
    for rep in plan.rep_doubles:
        parts.append(lambda m, rep=rep: sum(rep(m)))
    for rep, sub in plan.rep_subs:
        names = _doubles_only(sub)
        if names is None:
            parts.append(lambda m, rep=rep, sub=sub: sum([sub.fast(x) for x in rep(m)]))
        else:  # a column per double, each summed in C: no Python call per item
            parts.append(partial(_sum_columns, rep, tuple(map(attrgetter, names))))
    for get, sub in plan.subs:  # an unset sub-message reads as defaults
        parts.append(lambda m, get=get, sub=sub: sub.fast(get(m)))
    for name, plans in plan.oneofs:
        parts.append(lambda m, name=name, plans=plans: _one_of(m, name, plans))
    g = plan.doubles  # the doubles of the message itself, summed in the same frame
    if g is not None and not parts:
        return g if plan.n_doubles == 1 else (lambda m: sum(g(m)))
    if g is not None and len(parts) == 1:
        (a,) = parts
        return (lambda m: g(m) + a(m)) if plan.n_doubles == 1 else (
            lambda m: sum(g(m)) + a(m))
    if g is not None:
        parts.insert(0, g if plan.n_doubles == 1 else (lambda m: sum(g(m))))
    if not parts:
        return lambda m: 0.0
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        a, b = parts
        return lambda m: a(m) + b(m)
    return lambda m: sum([f(m) for f in parts])


def _doubles_only(plan: Plan) -> tuple[str, ...] | None:
    """The double fields of a plan that checks nothing else (None otherwise)."""
    if plan.doubles is None or plan.rep_doubles or plan.ints or plan.strs or plan.enums \
            or plan.times or plan.rep_counts or plan.rep_subs or plan.subs or plan.oneofs:
        return None
    return plan.double_names


def _sum_columns(rep: Getter, columns: tuple[Getter, ...], m: Message) -> float:
    items = rep(m)
    if not items:
        return 0.0
    items = list(items)
    if len(columns) == 2:
        a, b = columns
        return sum(map(a, items)) + sum(map(b, items))
    if len(columns) == 3:
        a, b, c = columns
        return sum(map(a, items)) + sum(map(b, items)) + sum(map(c, items))
    return sum([sum(map(c, items)) for c in columns])


def _one_of(m: Message, name: str, plans: dict[str, Plan]) -> float:
    which = m.WhichOneof(name)
    return math.nan if which is None else plans[which].fast(getattr(m, which))


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
