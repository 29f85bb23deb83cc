"""Snapshot size budget: no snapshot outgrows what its viewers can receive.

gRPC clients refuse a message over 4 MiB by default, so a run whose state outgrew that made
GetSnapshot and WatchSnapshots fail (RESOURCE_EXHAUSTED) for everyone watching it. `fit`
cuts a snapshot that is over the budget down to it, the most expendable parts first (old
log lines and decisions before envs, envs before the controller's own state), and records
every cut in `snapshot.trimmed` so that clients can say what they are not showing. The RPC
never fails for size.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.protobuf.message import Message

from esper.sanctum.v1 import sanctum_pb2 as spb

#: Room kept under the budget for the trim record itself and for length prefixes of
#: enclosing messages that shrink by less than their elements.
SLACK = 1024
#: No single element (a decision card, an env, a log line, a group) may take more than
#: this share of the budget: a giant one goes first, before any ordinary part is cut.
ELEMENT_SHARE = 16

_S = spb.SanctumSnapshot


def _varint_len(n: int) -> int:
    size = 1
    while n >= 0x80:
        n >>= 7
        size += 1
    return size


def encoded_size(number: int, value: Message | str) -> int:
    """Bytes one element of a repeated length-delimited field takes on the wire."""
    length = value.ByteSize() if isinstance(value, Message) else len(value.encode())
    return _varint_len(number << 3) + _varint_len(length) + length


def cut(parent: Message, name: str, over: int, oldest_first: bool) -> int:
    """Remove elements of the repeated field `name` of `parent` (the first ones when
    `oldest_first`, else the last) until at least `over` bytes are gone, or all are.
    Returns how many were removed."""
    field = getattr(parent, name)
    number = parent.DESCRIPTOR.fields_by_name[name].number
    count = len(field)
    order = range(count) if oldest_first else range(count - 1, -1, -1)
    freed = removed = 0
    for i in order:
        if freed >= over:
            break
        freed += encoded_size(number, field[i])
        removed += 1
    if removed:
        if oldest_first:
            del field[:removed]
        else:
            del field[count - removed:]
    return removed


def drop_oversized(parent: Message, name: str, limit: int) -> int:
    """Remove the elements of repeated field `name` larger than `limit` bytes; return how
    many."""
    field = getattr(parent, name)
    removed = 0
    for i in range(len(field) - 1, -1, -1):
        if field[i].ByteSize() > limit:
            del field[i]
            removed += 1
    return removed


def _oversized(snap: spb.SanctumSnapshot, limit: int) -> dict[str, int]:
    """Drop any env, group or last decision over `limit` bytes (before ordinary envs and
    groups are cut); counts per field path."""
    counts = {"envs": drop_oversized(snap, "envs", limit),
              "other_groups": drop_oversized(snap, "other_groups", limit),
              "last_decision": 0}
    for tamiyo in (snap.tamiyo, *snap.other_groups):
        if tamiyo.HasField("last_decision") and tamiyo.last_decision.ByteSize() > limit:
            tamiyo.ClearField("last_decision")
            counts["last_decision"] += 1
    return {path: n for path, n in counts.items() if n}


def _repeated(path: str, parent: Callable[[Any], Message], name: str, oldest_first: bool
              ) -> tuple[str, Callable[[Any, int], int]]:
    return path, lambda snap, over: cut(parent(snap), name, over, oldest_first)


def _last_decisions(snap: spb.SanctumSnapshot, over: int) -> int:
    dropped = 0
    for tamiyo in (snap.tamiyo, *snap.other_groups):
        if tamiyo.HasField("last_decision"):
            tamiyo.ClearField("last_decision")
            dropped += 1
    return dropped


def _vitals(snap: spb.SanctumSnapshot, over: int) -> int:
    had = snap.HasField("vitals")
    snap.ClearField("vitals")
    return int(had)


def _self(snap: spb.SanctumSnapshot) -> Message:
    return snap


#: (field path, cutter) in the order parts are given up; a cutter frees at least `over`
#: bytes from its part if it can and returns how many elements it removed. Between the
#: first three and the rest, any single env, group or decision card over the budget's
#: element share is dropped (OVERSIZED_AFTER).
TRIM_ORDER: tuple[tuple[str, Callable[[Any, int], int]], ...] = (
    _repeated("event_log", _self, "event_log", True),
    _repeated("recent_decisions", _self, "recent_decisions", True),
    _repeated("delivery.producers", lambda s: s.delivery, "producers", False),
    _repeated("envs", _self, "envs", False),
    _repeated("other_groups", _self, "other_groups", False),
    ("last_decision", _last_decisions),
    _repeated("tamiyo.heads", lambda s: s.tamiyo, "heads", False),
    *(_repeated(f"run_config.{name}", lambda s: s.run_config, name, False)
      for name in ("slot_ids", "env_devices", "heads", "blueprints")),
    ("vitals", _vitals),
)

OVERSIZED_AFTER = 3

#: What a snapshot keeps when nothing else fits: who, where it stands, and delivery counts.
_KEEP = ("run_id", "version", "generated_at", "liveness", "last_event_time",
         "seconds_since_last_event", "status", "started_at", "current_batch",
         "episodes_completed", "batch_total_episodes")


def _bare(snap: spb.SanctumSnapshot) -> None:
    """Reduce `snap` to its _KEEP fields and delivery counts (no producers)."""
    bare = spb.SanctumSnapshot()
    for name in _KEEP:
        if name in ("generated_at", "last_event_time", "started_at"):
            if snap.HasField(name):
                getattr(bare, name).CopyFrom(getattr(snap, name))
        else:
            setattr(bare, name, getattr(snap, name))
    bare.delivery.CopyFrom(snap.delivery)
    bare.delivery.ClearField("producers")
    snap.CopyFrom(bare)


def fit(snap: spb.SanctumSnapshot, budget: int,
        omitted: dict[str, int] | None = None, unbuilt_bytes: int = 0) -> bool:
    """Trim `snap` in place to at most `budget` serialized bytes; True when it was cut.

    `omitted` counts elements the caller already left out while assembling it (envs past
    the budget are never built) and `unbuilt_bytes` their estimated size: both go into the
    trim record, which is set whenever anything is left out.
    """
    size = snap.ByteSize()
    if size <= budget and not omitted:
        return False
    trim = spb.SnapshotTrim(budget_bytes=budget, full_bytes=size + unbuilt_bytes)
    counts = dict(omitted or {})
    target = max(0, budget - SLACK)
    for step, (path, cutter) in enumerate(TRIM_ORDER):
        if size <= target:
            break
        if step == OVERSIZED_AFTER:  # a giant element goes before ordinary envs and groups
            for big, n in _oversized(snap, budget // ELEMENT_SHARE).items():
                counts[big] = counts.get(big, 0) + n
            size = snap.ByteSize()
            if size <= target:
                break
        removed = cutter(snap, size - target)
        if removed:
            counts[path] = counts.get(path, 0) + removed
            size = snap.ByteSize()
    if size > target:
        _bare(snap)
        counts["all"] = 1
    for path, n in counts.items():
        trim.fields.add(field=path, omitted=n)
    snap.trimmed.CopyFrom(trim)
    return True
