"""The declared `finite` rules and timestamp ranges of a whole batch, checked on its bytes.

A protobuf message parsed from the concatenation of several messages' bytes holds every
repeated field's items of all of them. So a *mirror* of each message type, in which every
double with a `finite` rule is a `repeated double` and every sub-message on the way to one
is `repeated bytes` (same field numbers), parses a whole batch a level at a time: the
events' bytes joined give every top-level double and every payload's bytes; those joined
per type give the next level, down to the decision-card heads. Each level is one parse and
one C-level sum per field: no Python work per event or per head.

The mirror sees a superset of the values the real parse keeps (a repeated field keeps
what a singular one would overwrite, every member of a oneof, every merged occurrence of a
sub-message), and an unset field reads as its default (0.0, 1970-01-01), which passes.
So "all finite" here implies all finite in the parsed batch; anything else only sends the
batch to the rules (sanctum_svc.rules), which name the field.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, Message

from sanctum_svc.rules import _DOUBLES, _F, _TIMESTAMP, Bound, Scalar, _scalar, field_rules

_TYPE_OF = {_F.TYPE_DOUBLE: _F.TYPE_DOUBLE, _F.TYPE_FLOAT: _F.TYPE_FLOAT}
_TS_MIRROR = "Timestamp"


@dataclass
class _Mirror:
    """One message type's mirror: its class, finite doubles, and the sub-messages (field,
    mirror name) and timestamps (field, lo, hi) below it that hold checked values."""

    name: str
    cls: type[Message] | None = None
    doubles: tuple[str, ...] = ()
    subs: tuple[tuple[str, str], ...] = ()
    times: tuple[tuple[str, Bound, Bound], ...] = ()


def _mirror_name(desc: Descriptor) -> str:
    return desc.full_name.replace(".", "_")


def _rule_of(f: FieldDescriptor) -> Scalar:
    """The declared rule of `f`'s value (of each item, for a repeated field)."""
    rules = field_rules(f)
    return _scalar(rules.repeated.items if rules is not None and f.is_repeated else rules, f)


def _relevant(desc: Descriptor, memo: dict[str, bool], active: set[str]) -> bool:
    """Whether `desc` holds (below it) a finite double or a ranged timestamp."""
    name = desc.full_name
    if name in memo:
        return memo[name]
    if name in active:  # a recursive type: followed (a superset is never wrong)
        return True
    active.add(name)
    found = False
    for f in desc.fields:
        sub = f.message_type
        if f.type in _DOUBLES and _rule_of(f).finite:
            found = True
        elif sub is not None and sub.full_name == _TIMESTAMP:
            found = found or not f.is_repeated
        elif sub is not None and _relevant(sub, memo, active):
            found = True
    active.discard(name)
    memo[name] = found
    return found


def _build(root: Descriptor) -> dict[str, _Mirror]:
    """The mirrors of `root` and every relevant type below it, in one private pool."""
    memo: dict[str, bool] = {}
    proto = descriptor_pb2.FileDescriptorProto(
        name="sanctum_svc/wire_mirror.proto", package="sanctum_svc.mirror", syntax="proto3")
    ts = proto.message_type.add(name=_TS_MIRROR)
    ts.field.add(name="seconds", number=1, type=_F.TYPE_INT64, label=_F.LABEL_REPEATED)
    ts.field.add(name="nanos", number=2, type=_F.TYPE_INT32, label=_F.LABEL_REPEATED)
    mirrors: dict[str, _Mirror] = {}
    todo = [root]
    while todo:
        desc = todo.pop()
        name = _mirror_name(desc)
        if name in mirrors:
            continue
        m = mirrors[name] = _Mirror(name)
        msg = proto.message_type.add(name=name)
        doubles, subs, times = [], [], []
        for f in desc.fields:
            s = _rule_of(f)
            sub = f.message_type
            if f.type in _DOUBLES and s.finite:
                msg.field.add(name=f.name, number=f.number, type=_TYPE_OF[f.type],
                              label=_F.LABEL_REPEATED)
                doubles.append(f.name)
            elif sub is None:
                continue
            elif sub.full_name == _TIMESTAMP:
                if f.is_repeated:  # the rules refuse these anyway (rules_fast)
                    raise NotImplementedError(f"{f.full_name}: repeated timestamps")
                msg.field.add(name=f.name, number=f.number, type=_F.TYPE_BYTES,
                              label=_F.LABEL_REPEATED)
                times.append((f.name, s.ts_lo, s.ts_hi))
            elif _relevant(sub, memo, set()):
                msg.field.add(name=f.name, number=f.number, type=_F.TYPE_BYTES,
                              label=_F.LABEL_REPEATED)
                subs.append((f.name, _mirror_name(sub)))
                todo.append(sub)
        m.doubles, m.subs, m.times = tuple(doubles), tuple(subs), tuple(times)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    for m in mirrors.values():
        m.cls = message_factory.GetMessageClass(
            pool.FindMessageTypeByName(f"sanctum_svc.mirror.{m.name}"))
    mirrors[_TS_MIRROR] = _Mirror(_TS_MIRROR, message_factory.GetMessageClass(
        pool.FindMessageTypeByName(f"sanctum_svc.mirror.{_TS_MIRROR}")))
    return mirrors


class WireCheck:
    """`ok(messages_bytes)`: every finite double and timestamp below messages of one type
    certainly passes its rule (False: some may not, or the bytes did not parse)."""

    def __init__(self, root: Descriptor) -> None:
        self._mirrors = _build(root)
        self._root = _mirror_name(root)

    def ok(self, messages: Sequence[bytes]) -> bool:
        mirrors = self._mirrors
        pending: dict[str, list[bytes]] = {self._root: [b"".join(messages)]}
        stamps: dict[tuple[Bound, Bound], list[bytes]] = {}
        total = 0.0
        try:
            while pending:
                name, chunks = pending.popitem()
                m = mirrors[name]
                assert m.cls is not None
                msg = m.cls.FromString(chunks[0] if len(chunks) == 1 else b"".join(chunks))
                for d in m.doubles:
                    total += sum(getattr(msg, d))
                for f, target in m.subs:
                    items = getattr(msg, f)
                    if items:
                        pending.setdefault(target, []).append(b"".join(items))
                for f, lo, hi in m.times:
                    items = getattr(msg, f)
                    if items:
                        stamps.setdefault((lo, hi), []).append(b"".join(items))
            for (lo, hi), chunks in stamps.items():
                cls = mirrors[_TS_MIRROR].cls
                assert cls is not None
                ts = cls.FromString(b"".join(chunks))
                if not _times_within(ts.seconds, ts.nanos, lo, hi):  # type: ignore[attr-defined]  # mirror class built at run time
                    return False
        except DecodeError:
            return False
        return math.isfinite(total)


def _times_within(seconds: Sequence[int], nanos: Sequence[int], lo: Bound, hi: Bound) -> bool:
    """Conservative: every second strictly inside the bounds and every nanos valid (the
    pairing of seconds and nanos is not known here; a timestamp sent with nanos only has
    seconds 0, so 0 must be inside too)."""
    if nanos and (min(nanos) < 0 or max(nanos) >= 1_000_000_000):
        return False
    return lo[0] < min(seconds, default=0) <= max(seconds, default=0) < hi[0] \
        and lo[0] < 0 < hi[0]
