"""Applying a SnapshotDelta to the snapshot a client holds (the .proto says how).

The server builds deltas in sanctum_svc/delta.py; clients (the TUI, tests, benches) apply
them here, on a copy, so that whoever holds the previous snapshot keeps an intact one.
A delta that does not fit what is held (another base, an index out of range, a size
that does not match) is refused with DeltaMismatch: the client resubscribes for a full
snapshot. Nothing a server sends can make this raise anything else.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from esper.sanctum.v2 import sanctum_pb2 as spb


class DeltaMismatch(ValueError):
    """The delta does not apply to the held snapshot: resubscribe for a full one."""


def copy_field(dst: Message, fd: FieldDescriptor, value: Any) -> None:
    """Replace field `fd` of `dst` with `value` whole (a message copied over, a repeated
    field or map replaced, not merged)."""
    entry = fd.message_type
    if fd.is_repeated:  # maps included
        dst.ClearField(fd.name)
        target = getattr(dst, fd.name)
        if entry is not None and entry.GetOptions().map_entry:
            if entry.fields_by_name["value"].message_type is not None:
                for key, item in value.items():
                    target[key].CopyFrom(item)
            else:
                target.update(value)
        else:
            target.extend(value)
    elif fd.message_type is not None:
        getattr(dst, fd.name).CopyFrom(value)
    else:
        setattr(dst, fd.name, value)


def patch_fields(dst: Message, set_: Message, cleared: Iterable[int]) -> None:
    """Clear fields `cleared` (numbers) of `dst`, then replace the ones present in `set_`."""
    by_number = dst.DESCRIPTOR.fields_by_number
    for number in cleared:
        fd = by_number.get(number)
        if fd is None:
            raise DeltaMismatch(f"no field {number} in {dst.DESCRIPTOR.name}")
        dst.ClearField(fd.name)
    for fd, value in set_.ListFields():
        copy_field(dst, fd, value)


def _drop_append(target: Any, dropped: int, items: Any, what: str) -> None:
    if dropped > len(target):
        raise DeltaMismatch(f"{what}: {dropped} to drop, {len(target)} held")
    del target[:dropped]
    target.extend(items)


def _apply(held: spb.SanctumSnapshot, delta: spb.SnapshotDelta) -> None:
    patch_fields(held, delta.set, delta.cleared)
    if delta.HasField("run"):
        patch_fields(held.run, delta.run.set, delta.run.cleared)
    groups = held.tamiyo.groups
    for g in delta.groups:
        if g.index >= len(groups):
            raise DeltaMismatch(f"group {g.index} of {len(groups)}")
        patch_fields(groups[g.index], g.set, g.cleared)
    if delta.HasField("envs"):
        patch_fields(held.envs, delta.envs.set, delta.envs.cleared)
        envs = held.envs.envs
        for e in delta.envs.envs:
            if e.index >= len(envs):
                raise DeltaMismatch(f"env {e.index} of {len(envs)}")
            env = envs[e.index]
            patch_fields(env, e.set, e.cleared)
            for key, seed in e.seeds_set.items():
                env.seeds[key].CopyFrom(seed)
            for key in e.seeds_removed:
                if key not in env.seeds:
                    raise DeltaMismatch(f"env {e.index} has no seed {key!r} to remove")
                del env.seeds[key]
    series = held.histories.series
    for s in delta.series:
        if s.index >= len(series):
            raise DeltaMismatch(f"series {s.index} of {len(series)}")
        _drop_append(series[s.index].values, s.dropped, s.values, "series")
    if delta.HasField("event_log"):
        _drop_append(held.event_log.entries, delta.event_log.dropped,
                     delta.event_log.entries, "event_log")
    if delta.HasField("decisions"):
        _drop_append(held.decisions.recent, delta.decisions.dropped,
                     delta.decisions.recent, "decisions")


def apply_delta(held: spb.SanctumSnapshot, delta: spb.SnapshotDelta) -> spb.SanctumSnapshot:
    """A new snapshot: `held` (left untouched) with `delta` applied; DeltaMismatch when the
    delta is not for `held` or its result is not the size the server stated."""
    if held.run_id != delta.run_id or held.version != delta.base_version:
        raise DeltaMismatch(f"delta {delta.run_id}@{delta.base_version}->{delta.version} "
                            f"does not apply to {held.run_id}@{held.version}")
    out = spb.SanctumSnapshot()
    out.CopyFrom(held)
    try:
        _apply(out, delta)
    except DeltaMismatch:
        raise
    except (ValueError, TypeError, IndexError, KeyError, OverflowError) as exc:
        raise DeltaMismatch(f"delta does not apply: {exc}") from None
    if out.version != delta.version or out.ByteSize() != delta.full_bytes:
        raise DeltaMismatch(f"delta result is {out.ByteSize()} bytes at version "
                            f"{out.version}; the server said {delta.full_bytes} at "
                            f"{delta.version}")
    return out
