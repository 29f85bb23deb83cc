"""Snapshot size budget: no snapshot outgrows what its viewers can receive.

gRPC clients refuse a message over 4 MiB by default, so a run whose state outgrew that made
GetSnapshot and WatchSnapshots fail (RESOURCE_EXHAUSTED) for everyone watching it. `fit`
cuts a snapshot that is over the budget down to it, the most expendable parts first (old
log lines and decisions before series, series before envs, envs before the controller's own
state), and records
every cut in `snapshot.trimmed` so that clients can say what they are not showing. The RPC
never fails for size.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.protobuf.message import Message

from esper.sanctum.v2 import sanctum_pb2 as spb

#: Room kept under the budget for the trim record itself and for length prefixes of
#: enclosing messages that shrink by less than their elements.
SLACK = 1024
#: No single element (a decision card, an env, a log line, a group) may take more than
#: this share of the budget: a giant one goes first, before any ordinary part is cut.
ELEMENT_SHARE = 16

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
    """Drop any env, non-primary group or last decision over `limit` bytes (before ordinary
    envs and groups are cut); counts per field path."""
    groups = snap.tamiyo.groups
    dropped_groups = 0
    for i in range(len(groups) - 1, 0, -1):  # the primary group stays
        if groups[i].ByteSize() > limit:
            del groups[i]
            dropped_groups += 1
    counts = {"envs.envs": drop_oversized(snap.envs, "envs", limit),
              "tamiyo.groups": dropped_groups, "tamiyo.groups.last_decision": 0}
    for group in groups:
        if group.HasField("last_decision") and group.last_decision.ByteSize() > limit:
            group.ClearField("last_decision")
            counts["tamiyo.groups.last_decision"] += 1
    return {path: n for path, n in counts.items() if n}


def _repeated(path: str, parent: Callable[[Any], Message], name: str, oldest_first: bool
              ) -> tuple[str, Callable[[Any, int], int]]:
    return path, lambda snap, over: cut(parent(snap), name, over, oldest_first)


def _other_groups(snap: spb.SanctumSnapshot, over: int) -> int:
    """Cut policy groups, last first, never the primary one."""
    groups = snap.tamiyo.groups
    if len(groups) < 2:
        return 0
    primary = spb.PolicyGroup()
    primary.CopyFrom(groups[0])
    del groups[0]
    removed = cut(snap.tamiyo, "groups", over, oldest_first=False)
    groups.insert(0, primary)
    return removed


def _last_decisions(snap: spb.SanctumSnapshot, over: int) -> int:
    dropped = 0
    for group in snap.tamiyo.groups:
        if group.HasField("last_decision"):
            group.ClearField("last_decision")
            dropped += 1
    return dropped


def _heads(snap: spb.SanctumSnapshot, over: int) -> int:
    dropped = 0
    for group in snap.tamiyo.groups:
        dropped += len(group.last_update.heads)
        del group.last_update.heads[:]
    return dropped


def _vitals(snap: spb.SanctumSnapshot, over: int) -> int:
    had = snap.HasField("vitals")
    snap.ClearField("vitals")
    return int(had)


def _metric_history(snap: spb.SanctumSnapshot, over: int) -> int:
    """Halve every user metric's history (oldest values first) until `over` bytes are
    freed or none is left; the latest value and step stay. Returns values removed."""
    metrics = snap.metrics.metrics
    before = snap.metrics.ByteSize()
    removed = 0
    while before - snap.metrics.ByteSize() < over:
        longest = max((len(m.history) for m in metrics), default=0)
        if not longest:
            break
        for m in metrics:
            n = (len(m.history) + 1) // 2
            del m.history[:n]
            removed += n
    return removed


#: (field path, cutter) in the order parts are given up; a cutter frees at least `over`
#: bytes from its part if it can and returns how many elements it removed. Between the
#: first three and the rest, any single env, group or decision card over the budget's
#: element share is dropped (OVERSIZED_AFTER).
TRIM_ORDER: tuple[tuple[str, Callable[[Any, int], int]], ...] = (
    _repeated("event_log.entries", lambda s: s.event_log, "entries", True),
    _repeated("decisions.recent", lambda s: s.decisions, "recent", True),
    _repeated("delivery.producers", lambda s: s.delivery, "producers", False),
    _repeated("histories.series", lambda s: s.histories, "series", False),
    ("metrics.metrics.history", _metric_history),
    _repeated("envs.envs", lambda s: s.envs, "envs", False),
    ("tamiyo.groups", _other_groups),
    ("tamiyo.groups.last_decision", _last_decisions),
    ("tamiyo.groups.last_update.heads", _heads),
    *(_repeated(f"run.config.{name}", lambda s: s.run.config, name, False)
      for name in ("slot_ids", "env_devices", "heads", "blueprints", "fault_injections")),
    ("vitals", _vitals),
)

OVERSIZED_AFTER = 3

def _bare(snap: spb.SanctumSnapshot) -> None:
    """Reduce `snap` to who it is, where the run stands (its run section without the
    config) and delivery counts (no producers)."""
    bare = spb.SanctumSnapshot(run_id=snap.run_id, version=snap.version)
    if snap.HasField("generated_at"):
        bare.generated_at.CopyFrom(snap.generated_at)
    bare.run.CopyFrom(snap.run)
    bare.run.ClearField("config")
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
