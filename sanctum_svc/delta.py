"""Building a SnapshotDelta between two snapshots the server built (the .proto says how a
client applies one; esper_common/delta.py does it).

Deltas are computed from the built snapshots themselves, after the size budget cut them, so
a client that applies one holds exactly what a full snapshot at that version would be.
Sections that grow by appending (the event log, recent decisions, each history's values)
send only their new items; the run section and policy groups only their changed fields;
any other changed section goes whole. Each part falls back to the whole section when its
shape changed (a new series, a group added, a section appearing).
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Sequence
from typing import Any

from google.protobuf.message import Message

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper_common.delta import copy_field

_F = spb.SanctumSnapshot.DESCRIPTOR.fields_by_name


def diff_fields(old: Message, new: Message, out: Message) -> list[int]:
    """Copy into `out` each field of `new` that differs from `old`; the numbers of the
    fields present in `old` and absent in `new` are returned (to clear)."""
    before = {fd.number: value for fd, value in old.ListFields()}
    for fd, value in new.ListFields():
        if before.pop(fd.number, _MISSING) != value:
            copy_field(out, fd, value)
    return sorted(before)


_MISSING = object()


def overlap(old: Sequence[Any], new: Sequence[Any]) -> int:
    """The fewest items to drop from the front of `old` so that the rest is a prefix of
    `new` (then `new` is that rest plus new items); len(old) when `new` does not continue
    `old` at all."""
    n, m = len(old), len(new)
    for k in range(max(0, n - m), n):
        if old[k] == new[0] and all(old[k + i] == new[i] for i in range(1, n - k)):
            return k
    return n


def float_overlap(old: Sequence[float], new: Sequence[float]) -> int:
    """overlap() for float32 lists, compared as bytes (NaN equals itself here)."""
    a = memoryview(array("f", old).tobytes())
    b = memoryview(array("f", new).tobytes())
    n, m = len(a), len(b)
    for k in range(max(0, n - m), n, 4):
        if a[k:] == b[:n - k]:
            return k // 4
    return n // 4


def _run(delta: spb.SnapshotDelta, old: spb.RunSection, new: spb.RunSection) -> bool:
    delta.run.cleared.extend(diff_fields(old, new, delta.run.set))
    return True


def _tamiyo(delta: spb.SnapshotDelta, old: spb.TamiyoSection, new: spb.TamiyoSection) -> bool:
    a, b = old.groups, new.groups
    if len(a) != len(b) or any(x.group_id != y.group_id for x, y in zip(a, b, strict=True)):
        return False
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        if x != y:
            patch = delta.groups.add(index=i)
            patch.cleared.extend(diff_fields(x, y, patch.set))
    return True


def _env(patch: spb.EnvPatch, old: spb.EnvState, new: spb.EnvState) -> None:
    """Changed fields of one env; its seeds map by key when only some seeds changed."""
    patch.cleared.extend(diff_fields(old, new, patch.set))
    seeds = spb.EnvState.DESCRIPTOR.fields_by_name["seeds"].number
    if not patch.set.seeds or seeds in patch.cleared:
        return
    before, after = old.seeds, new.seeds
    patch.set.ClearField("seeds")
    for key, seed in after.items():
        if key not in before or before[key] != seed:
            patch.seeds_set[key].CopyFrom(seed)
    patch.seeds_removed.extend(sorted(k for k in before if k not in after))


def _envs(delta: spb.SnapshotDelta, old: spb.EnvSection, new: spb.EnvSection) -> bool:
    a, b = old.envs, new.envs
    if len(a) != len(b) or any((x.group_id, x.env_id) != (y.group_id, y.env_id)
                               for x, y in zip(a, b, strict=True)):
        return False
    patch = delta.envs
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        if x != y:
            _env(patch.envs.add(index=i), x, y)
    rest_old, rest_new = spb.EnvSection(), spb.EnvSection()
    rest_old.CopyFrom(old)
    rest_new.CopyFrom(new)
    rest_old.ClearField("envs")
    rest_new.ClearField("envs")
    patch.cleared.extend(diff_fields(rest_old, rest_new, patch.set))
    return True


def _key(h: spb.History) -> tuple[str, str, int | None]:
    return h.metric, h.group_id, h.env_id if h.HasField("env_id") else None


def _histories(delta: spb.SnapshotDelta, old: spb.HistorySection,
               new: spb.HistorySection) -> bool:
    a, b = old.series, new.series
    if len(a) != len(b) or any(_key(x) != _key(y) for x, y in zip(a, b, strict=True)):
        return False
    appends = []
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        if x.values == y.values:
            continue
        dropped = float_overlap(x.values, y.values)
        appends.append((i, dropped, y.values[len(x.values) - dropped:]))
    for i, dropped, values in appends:
        delta.series.add(index=i, dropped=dropped, values=values)
    return True


def _appended(old: Sequence[Any], new: Sequence[Any], out: Any, field: str) -> bool:
    dropped = overlap(old, new)
    out.dropped = dropped
    getattr(out, field).extend(new[len(old) - dropped:])
    return True


Patcher = Callable[[spb.SnapshotDelta, Any, Any], bool]
#: Top-level sections sent as patches instead of whole when their shape allows it.
PATCHERS: dict[int, Patcher] = {
    _F["run"].number: _run,
    _F["tamiyo"].number: _tamiyo,
    _F["envs"].number: _envs,
    _F["histories"].number: _histories,
    _F["event_log"].number: lambda d, o, n: _appended(o.entries, n.entries, d.event_log,
                                                      "entries"),
    _F["decisions"].number: lambda d, o, n: _appended(o.recent, n.recent, d.decisions,
                                                      "recent"),
}


def build_delta(old: spb.SanctumSnapshot, new: spb.SanctumSnapshot) -> spb.SnapshotDelta:
    """The delta that turns `old` into `new` (same run)."""
    delta = spb.SnapshotDelta(run_id=new.run_id, base_version=old.version,
                              version=new.version, full_bytes=new.ByteSize())
    before = {fd.number: value for fd, value in old.ListFields()}
    for fd, value in new.ListFields():
        prev = before.pop(fd.number, _MISSING)
        if prev == value:
            continue
        patcher = PATCHERS.get(fd.number)
        if prev is _MISSING or patcher is None or not patcher(delta, prev, value):
            copy_field(delta.set, fd, value)
    delta.cleared.extend(sorted(before))
    return delta
