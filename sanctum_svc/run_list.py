"""ListRuns pages: runs most recently active first, bounded in count and in bytes.

A server may hold tens of thousands of runs; one reply listing them all grew past what a
client accepts (8 MB for 30,000 runs). A page holds at most `page_size` runs (default and
cap in sanctum_svc.config) and ends early rather than grow past the snapshot budget. The
page token is the sort key of the last run listed (keyset paging: no server-side state).
"""

from __future__ import annotations

import base64
import binascii
import heapq

from esper.sanctum.v2 import sanctum_pb2 as spb
from sanctum_svc.aggregator import Aggregator, RunAggregator
from sanctum_svc.config import LIST_RUNS_DEFAULT_PAGE, LIST_RUNS_MAX_PAGE

#: Sort position of a run without events: after every run with one.
_NO_TIME = -(2**62)

SortKey = tuple[int, str]


class PageError(ValueError):
    """A ListRunsRequest that cannot be answered; `field` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def sort_key(run: RunAggregator) -> SortKey:
    """Newest last event first, then run id."""
    t = run.last_event_time
    return (-(round(t * 1e9) if t is not None else _NO_TIME), run.run_id)


def encode_token(key: SortKey) -> str:
    raw = f"{key[0]}\x00{key[1]}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> SortKey:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        when, sep, run_id = raw.partition("\x00")
        if not sep:
            raise ValueError("no separator")
        return int(when), run_id
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise PageError("page_token", "page_token is not one this server gave out "
                        "(pass next_page_token of the previous page, or empty)") from None


def page_size(request: spb.ListRunsRequest) -> int:
    if request.page_size < 0:
        raise PageError("page_size", f"page_size must be >= 0 (0 = server default "
                        f"{LIST_RUNS_DEFAULT_PAGE}), got {request.page_size}")
    return min(request.page_size or LIST_RUNS_DEFAULT_PAGE, LIST_RUNS_MAX_PAGE)


#: Longest ListRunsRequest.filter.
MAX_FILTER_BYTES = 256


def matcher(request: spb.ListRunsRequest):  # noqa: ANN201 - a predicate on runs
    """A predicate selecting the runs `request` filters for (PageError when malformed)."""
    text = request.filter
    if len(text.encode()) > MAX_FILTER_BYTES:
        raise PageError("filter", f"filter is at most {MAX_FILTER_BYTES} bytes")
    needle = text.casefold()
    statuses = set(request.statuses)

    def wanted(run: RunAggregator) -> bool:
        if statuses and run.state.run.status not in statuses:
            return False
        if not needle:
            return True
        config = run.state.run.config
        hay = (run.run_id, config.task, *config.tags)
        return any(needle in h.casefold() for h in hay)

    return wanted


def list_runs(aggregator: Aggregator, request: spb.ListRunsRequest, now: float,
              budget: int) -> spb.ListRunsResponse:
    """One page of runs after `request.page_token` among those the filter selects;
    PageError for a bad request. total_size counts the selected runs."""
    limit = page_size(request)
    after = decode_token(request.page_token) if request.page_token else None
    runs = aggregator.runs()
    if request.filter or request.statuses:
        wanted = matcher(request)
        runs = [r for r in runs if wanted(r)]
    candidates = runs if after is None else [r for r in runs if sort_key(r) > after]
    chosen = heapq.nsmallest(limit, candidates, key=sort_key)
    reply = spb.ListRunsResponse(total_size=len(runs))
    size = 16  # total_size and framing
    for run in chosen:
        summary = run.summary(now)
        size += summary.ByteSize() + 8
        # The next-page token repeats this run's id (base64): it must fit too.
        if size + len(run.run_id.encode()) * 4 // 3 + 40 > budget and reply.runs:
            break
        reply.runs.append(summary)
    if len(reply.runs) < len(candidates):
        reply.next_page_token = encode_token(sort_key(chosen[len(reply.runs) - 1]))
    return reply
