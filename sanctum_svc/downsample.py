"""Server-side downsampling of a series: min and max per bucket.

The points in range are cut into at most max_points/2 buckets of consecutive steps; each
bucket gives its lowest and its highest point (the point itself: step, time and value), in
step order. Why min/max rather than LTTB: every extreme survives by construction (a one-
update spike in a million is the max of its bucket, so it is drawn at its true height and
step), the result is deterministic and exact, and it composes with the index: a bucket that
covers whole blocks takes their stored min and max without decoding them, so a query over
a long run reads one summary row per block. LTTB picks one point per bucket by triangle
area against its neighbours: it needs every point decoded, and it can drop a spike.
"""

from __future__ import annotations

from collections.abc import Iterable

from sanctum_svc.series_index import Segment

#: (step, time, value)
Sample = tuple[int, float, float]


class _Bucket:
    __slots__ = ("n", "lo", "hi")

    def __init__(self) -> None:
        self.n = 0
        self.lo: Sample | None = None
        self.hi: Sample | None = None

    def take(self, n: int, lo: Sample, hi: Sample) -> None:
        self.n += n
        if self.lo is None or lo[2] < self.lo[2]:
            self.lo = lo
        if self.hi is None or hi[2] > self.hi[2]:
            self.hi = hi

    def samples(self) -> list[Sample]:
        assert self.lo is not None and self.hi is not None
        if self.lo[0] == self.hi[0]:
            return [self.lo]
        return sorted((self.lo, self.hi))


def downsample(segments: Iterable[Segment], s0: int, s1: int, total: int, max_points: int,
               stats: dict[str, int]) -> list[Sample]:
    """The points of steps s0..s1 (`total` of them), at most max_points of them: all when
    they fit, else min and max per bucket. Whole blocks inside a bucket are taken from
    their summaries; `stats` counts the points decoded."""
    out: list[Sample] = []
    if total <= 0:
        return out
    if total <= max_points:
        for seg in segments:
            times, values = seg.decoded(stats)
            a, b = max(s0, seg.first) - seg.first, min(s1, seg.first + seg.n - 1) - seg.first
            out.extend((seg.first + i, times[i], values[i]) for i in range(a, b + 1))
        return out
    buckets = max(1, max_points // 2)
    per = -(-total // buckets)
    bucket = _Bucket()
    for seg in segments:
        a, b = max(s0, seg.first) - seg.first, min(s1, seg.first + seg.n - 1) - seg.first
        whole = a == 0 and b == seg.n - 1
        if whole and seg.arrays is None and seg.n <= per:
            # A block no bigger than a bucket goes into it whole, by its summary (a bucket
            # then holds per..2*per-1 points: never more buckets than max_points/2).
            lo = (seg.first + seg.imin, seg.tmin, seg.vmin)
            hi = (seg.first + seg.imax, seg.tmax, seg.vmax)
            bucket.take(seg.n, lo, hi)
            if bucket.n >= per:
                out += bucket.samples()
                bucket = _Bucket()
            continue
        times, values = seg.decoded(stats)
        i = a
        while i <= b:
            j = min(b + 1, i + per - bucket.n)
            chunk = values[i:j]
            lo_v, hi_v = min(chunk), max(chunk)
            lo_i, hi_i = i + chunk.index(lo_v), i + chunk.index(hi_v)
            bucket.take(j - i, (seg.first + lo_i, times[lo_i], lo_v),
                        (seg.first + hi_i, times[hi_i], hi_v))
            i = j
            if bucket.n >= per:
                out += bucket.samples()
                bucket = _Bucket()
    if bucket.n:
        out += bucket.samples()
    return out

