"""Answering Series and Export from the series index (runs on the store thread).

A query resolves its selectors to series of the run, turns a time range into a step range
(times are non-decreasing along a series: each is its producer's event time), then reads
only the blocks overlapping the range: whole blocks inside a bucket by their summary, the
rest decoded (sanctum_svc.downsample). Memory is bounded by the answer plus one block.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable

from esper.sanctum.v2 import sanctum_pb2 as spb
from sanctum_svc.downsample import downsample
from sanctum_svc.series_extract import NO_ENV
from sanctum_svc.series_index import SeriesIndex, SeriesKey, unpack
from sanctum_svc.store import EventStore

DEFAULT_POINTS = 1000
MAX_POINTS = 20_000
MAX_SELECTORS = 64
MAX_SERIES = 256
#: Points per Export chunk.
EXPORT_CHUNK = 65_536


class QueryError(ValueError):
    """A request that cannot be answered; `field` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def key_message(key: SeriesKey) -> spb.SeriesKey:
    out = spb.SeriesKey(name=key[1], group_id=key[2])
    if key[3] != NO_ENV:
        out.env_id = key[3]
    return out


def _matches(sel: spb.SeriesSelector, key: SeriesKey) -> bool:
    name = sel.name
    if name.endswith("*"):
        if not key[1].startswith(name[:-1]):
            return False
    elif key[1] != name:
        return False
    if sel.HasField("group_id") and key[2] != sel.group_id:
        return False
    return not (sel.HasField("env_id") and key[3] != sel.env_id)


def select(index: SeriesIndex, run_id: str, selectors: Iterable[spb.SeriesSelector]
           ) -> list[SeriesKey]:
    """The run's series matched by any selector, sorted; QueryError when too many."""
    selectors = list(selectors)
    if len(selectors) > MAX_SELECTORS:
        raise QueryError("series", f"at most {MAX_SELECTORS} selectors per request, got "
                         f"{len(selectors)}")
    for i, sel in enumerate(selectors):
        if not sel.name:
            raise QueryError(f"series[{i}].name", "name is required (\"prefix*\" matches "
                             "a prefix)")
    keys = sorted(k for k in index.runs.get(run_id, ())
                  if any(_matches(sel, k) for sel in selectors))
    if len(keys) > MAX_SERIES:
        raise QueryError("series", f"{len(keys)} series match; at most {MAX_SERIES} per "
                         "request: name them more precisely")
    return keys


def _time_to_step(store: EventStore, series_id: int, t: float, upper: bool) -> int:
    """The first step with time >= t (upper=False), or the last with time <= t (upper=True;
    -1 when none)."""
    index = store.index
    tail = index.tails.get(series_id)
    db = store.db
    if upper:
        if tail is not None and tail.times and tail.times[0] <= t:
            return tail.first_step + bisect_right(tail.times, t) - 1
        row = db.execute("SELECT first_step, n, data FROM series_blocks WHERE series_id = ? "
                         "AND t_first <= ? ORDER BY first_step DESC LIMIT 1",
                         (series_id, t)).fetchone()
        if row is None:
            return -1
        times, _ = unpack(row[2], row[1])
        return row[0] + bisect_right(times, t) - 1
    row = db.execute("SELECT first_step, n, data FROM series_blocks WHERE series_id = ? AND "
                     "t_last >= ? ORDER BY first_step LIMIT 1", (series_id, t)).fetchone()
    if row is not None:
        times, _ = unpack(row[2], row[1])
        return row[0] + bisect_left(times, t)
    if tail is not None and tail.times and tail.times[-1] >= t:
        return tail.first_step + bisect_left(tail.times, t)
    return index.count(series_id)


def step_range(store: EventStore, series_id: int, req: spb.SeriesRequest) -> tuple[int, int]:
    """Inclusive step bounds of the request for one series (s0 > s1: empty)."""
    s0 = req.step_from if req.HasField("step_from") else 0
    s1 = req.step_to if req.HasField("step_to") else store.index.count(series_id) - 1
    s1 = min(s1, store.index.count(series_id) - 1)
    if req.HasField("time_from"):
        s0 = max(s0, _time_to_step(store, series_id, req.time_from.ToNanoseconds() / 1e9,
                                   False))
    if req.HasField("time_to"):
        s1 = min(s1, _time_to_step(store, series_id, req.time_to.ToNanoseconds() / 1e9, True))
    return s0, s1


def query(store: EventStore, req: spb.SeriesRequest) -> spb.SeriesResponse:
    """Answer a SeriesRequest (QueryError for a bad one)."""
    if req.max_points > MAX_POINTS:
        raise QueryError("max_points", f"max_points is at most {MAX_POINTS:,}, got "
                         f"{req.max_points:,}")
    limit = req.max_points or DEFAULT_POINTS
    index = store.index
    reply = spb.SeriesResponse(run_id=req.run_id)
    if not req.series:
        for key, n in index.series_of(req.run_id):
            reply.series.add(key=key_message(key), total_points=n)
        return reply
    stats: dict[str, int] = {}
    for key in select(index, req.run_id, req.series):
        series_id = index.ids[key]
        s0, s1 = step_range(store, series_id, req)
        total = max(0, s1 - s0 + 1)
        data = reply.series.add(key=key_message(key), total_points=index.count(series_id),
                                points_in_range=total, downsampled=total > limit)
        if total:
            points = downsample(index.segments(store.db, series_id, s0, s1, stats), s0, s1,
                                total, limit, stats)
            data.steps.extend(p[0] for p in points)
            data.times.extend(p[1] for p in points)
            data.values.extend(p[2] for p in points)
    reply.stats.blocks_read = stats.get("blocks", 0)
    reply.stats.points_decoded = stats.get("decoded", 0)
    reply.stats.damaged_blocks = stats.get("damaged", 0)
    return reply


def export_keys(store: EventStore, run_id: str) -> list[tuple[SeriesKey, int]]:
    """Every series of the run with its point count."""
    return store.index.series_of(run_id)


def export_chunk(store: EventStore, key: SeriesKey, first: int) -> spb.SeriesData:
    """Up to EXPORT_CHUNK points of one series from step `first`, at full resolution."""
    index = store.index
    series_id = index.ids.get(key)
    out = spb.SeriesData(key=key_message(key))
    if series_id is None:
        return out
    n = index.count(series_id)
    last = min(n, first + EXPORT_CHUNK) - 1
    out.total_points = n
    out.points_in_range = max(0, last - first + 1)
    stats: dict[str, int] = {}
    for seg in index.segments(store.db, series_id, first, last, stats):
        times, values = seg.decoded(stats)
        a = max(first, seg.first) - seg.first
        b = min(last, seg.first + seg.n - 1) - seg.first
        out.steps.extend(range(seg.first + a, seg.first + b + 1))
        out.times.extend(times[a:b + 1])
        out.values.extend(values[a:b + 1])
    return out
