"""The fast form of the declared rules (see sanctum_svc.rules): per message type, closures
over only the checks that exist, built from the descriptors once (no generated source).

`fast_sum(plan, msg)` returns the sum of every double below msg (NaN/Inf propagate), or NaN
as soon as another rule fails; `bulk_sum(plan, msgs)` is the same over many messages of one
type, a column at a time; `columns_ok(plan, msgs)` runs a plan's non-double checks a column
at a time over many messages (a batch's envelopes).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache, partial
from itertools import chain
from operator import attrgetter
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from sanctum_svc.rules import (
    _DOUBLES,
    _F,
    _INTS,
    _TIMESTAMP,
    SIZE_IMPLIED,
    Bound,
    Getter,
    Plan,
    Scalar,
    _active,
    _scalar,
    field_rules,
    plan_for,
)

_UNBOUNDED = 1 << 62
_getter = cache(attrgetter)


def compile_fast(plan: Plan, desc: Descriptor) -> None:
    """Fill the fast form of `plan`, the plan of `desc`."""
    fast = _Fast()
    _flatten(desc, "", fast, (desc.full_name,))
    fast.into(plan)
    plan.fast = _compile(plan)


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
        plan.int_names = tuple(p for p, _, _ in self.ints)
        plan.str_names = tuple(p for p, _, _, _ in self.strs)
        plan.enum_names = tuple(p for p, _, _ in self.enums)
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


def columns_ok(plan: Plan, msgs: Sequence[Message], times: bool = True,
               given: dict[str, Sequence[Any]] | None = None) -> bool:
    """The checks (not the doubles) of `plan` on many messages at once, a column at a time:
    for the envelope fields of a batch's events. `given`: columns already read (field name
    -> values of msgs); `times=False` leaves the timestamps out (rules_wire checked them)."""
    given = given or {}
    for (get, lo, hi), name in zip(plan.ints, plan.int_names, strict=True):
        values = given.get(name) or list(map(get, msgs))
        if values and (min(values) < lo or max(values) > hi):
            return False
    for (get, mn, mx, mb), name in zip(plan.strs, plan.str_names, strict=True):
        values = set(given.get(name) or map(get, msgs))
        if values and not all(_str_ok(v, mn, mx, mb) for v in values):
            return False
    for (get, defined, not_in), name in zip(plan.enums, plan.enum_names, strict=True):
        values = set(given.get(name) or map(get, msgs))
        if values & not_in or (defined is not None and not values <= defined):
            return False
    for get, lo, hi in plan.times if times else ():
        stamps = list(map(get, msgs))
        if stamps and not _times_ok(stamps, lo, hi):
            return False
    return all(len(get(m)) <= limit for get, limit in plan.rep_counts for m in msgs)


def checked(plan: Plan) -> bool:
    """Whether `plan` or a plan below it has a rule other than `finite` and timestamp
    ranges (what `bulk_checks` runs)."""
    known = _CHECKED.get(id(plan))
    if known is None:
        _CHECKED[id(plan)] = False  # a recursive type: decided by its other fields
        known = bool(plan.ints or plan.strs or plan.enums or plan.rep_counts or plan.oneofs
                     or any(checked(sub) for _, sub in (*plan.subs, *plan.rep_subs)))
        _CHECKED[id(plan)] = known
    return known


_CHECKED: dict[int, bool] = {}


def bulk_checks(plan: Plan, msgs: Sequence[Message]) -> bool:
    """`bulk_sum` without the doubles and timestamps (sanctum_svc.rules_wire checked those
    on the bytes): whether every other rule certainly holds, visiting only sub-messages
    that have such rules."""
    if not msgs or not checked(plan):
        return True
    if not columns_ok(plan, msgs, times=False):
        return False
    for rep, sub in plan.rep_subs:
        if checked(sub) and not bulk_checks(sub, list(chain.from_iterable(map(rep, msgs)))):
            return False
    for get, sub in plan.subs:
        if checked(sub) and not bulk_checks(sub, list(map(get, msgs))):
            return False
    for name, plans in plan.oneofs:
        for m in msgs:
            which = m.WhichOneof(name)
            if which is None or not bulk_checks(plans[which], [getattr(m, which)]):
                return False
    return True


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


def bulk_sum(plan: Plan, msgs: Sequence[Message]) -> float:
    """`fast_sum` over many messages of one type at once: each rule runs as one column
    (C-level map/sum over all of them, sub-messages and repeated items gathered first), so
    the Python work is per field of the type, not per message or per repeated item."""
    if not msgs:
        return 0.0
    if not columns_ok(plan, msgs):
        return math.nan
    total = 0.0
    for name in plan.double_names:
        total += sum(map(_getter(name), msgs))
    for rep in plan.rep_doubles:
        total += sum(chain.from_iterable(map(rep, msgs)))
    for rep, sub in plan.rep_subs:
        total += bulk_sum(sub, list(chain.from_iterable(map(rep, msgs))))
    for get, sub in plan.subs:
        total += bulk_sum(sub, list(map(get, msgs)))
    for name, plans in plan.oneofs:
        total += sum([_one_of(m, name, plans) for m in msgs])
    return total


def _one_of(m: Message, name: str, plans: dict[str, Plan]) -> float:
    which = m.WhichOneof(name)
    return math.nan if which is None else plans[which].fast(getattr(m, which))


