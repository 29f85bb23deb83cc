"""The snapshot subscription: WatchSnapshots with reconnect and exponential backoff.

Runs inside the app's network worker and reports only through `post(message)`, so the
UI never blocks on the network and transport errors never reach the user raw. It asks for
incremental updates and applies each SnapshotDelta to the snapshot it holds
(esper_common.delta), so the app only ever sees whole snapshots; a delta that does not
apply makes it resubscribe for a full one at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import grpc
from textual.message import Message

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.sanctum.v2 import sanctum_pb2_grpc
from esper_common.channel import ChannelConfig, Failover, SanctumError, aio_channel
from esper_common.delta import DeltaMismatch, apply_delta
from esper_common.diagnose import tls_problem
from tui_client.messages import (
    ConnectionChanged,
    HeartbeatReceived,
    RunsListed,
    SnapshotReceived,
)

#: Failures that retrying cannot fix: the user must change a flag.
FATAL_CODES = {
    grpc.StatusCode.UNAUTHENTICATED: "the server rejected the token (check --token)",
    grpc.StatusCode.PERMISSION_DENIED: "the token may not watch this run (check --token)",
    grpc.StatusCode.INVALID_ARGUMENT: "the server rejected the request",
    grpc.StatusCode.UNIMPLEMENTED: (
        "the server does not speak esper.sanctum.v2 (an older esper-sanctum? upgrade it)"),
}


@dataclass(frozen=True)
class Backoff:
    """Reconnect delays: initial, ×factor per failed attempt, capped at maximum (seconds)."""

    initial: float = 0.5
    factor: float = 2.0
    maximum: float = 8.0

    def delay(self, attempt: int) -> float:
        return min(self.maximum, self.initial * self.factor ** max(0, attempt))


@dataclass(frozen=True)
class Subscription:
    """What to watch: where, which run ("" = the server's most recent), how often."""

    channel: ChannelConfig
    run_id: str = ""
    max_hz: float = 4.0
    backoff: Backoff = Backoff()
    list_timeout: float = 5.0
    #: With no run_id: list runs first and let the user pick when there are several.
    ask_when_several: bool = True
    #: Ask for deltas after the first snapshot (False: a full snapshot every update).
    incremental: bool = True
    #: Ask for gzip on the stream: a few KB per update matter over SSH and slow links, and
    #: the server's cost (about 0.15 ms per update) is small for one viewer.
    compressed: bool = True


#: Deltas that did not apply in a row before this connection falls back to full snapshots.
MAX_MISMATCHES = 3


#: Runs the picker lists (the most recently active first; the server caps a page).
PICKER_RUNS = 200


async def list_runs(cfg: ChannelConfig, timeout: float = 5.0, filter_text: str = "",
                    statuses: list[int] | None = None) -> spb.ListRunsResponse:
    """The server's PICKER_RUNS most recently active runs matching the filter (and how many
    match); raises SanctumError (never a raw transport error)."""
    try:
        async with aio_channel(cfg) as channel:
            stub = sanctum_pb2_grpc.SanctumServiceStub(channel)
            reply: spb.ListRunsResponse = await stub.ListRuns(
                spb.ListRunsRequest(page_size=PICKER_RUNS, filter=filter_text,
                                    statuses=[spb.RunStatus.Name(s) for s in statuses or ()]),
                metadata=cfg.metadata(), timeout=timeout)
            return reply
    except grpc.RpcError as err:
        raise SanctumError.from_rpc_error(err) from None


async def series(cfg: ChannelConfig, request: spb.SeriesRequest, timeout: float = 10.0
                 ) -> spb.SeriesResponse:
    """A Series query; raises SanctumError."""
    try:
        async with aio_channel(cfg) as channel:
            stub = sanctum_pb2_grpc.SanctumServiceStub(channel)
            reply: spb.SeriesResponse = await stub.Series(request, metadata=cfg.metadata(),
                                                          timeout=timeout)
            return reply
    except grpc.RpcError as err:
        raise SanctumError.from_rpc_error(err) from None


async def watch(sub: Subscription, post: Callable[[Message], object]) -> None:
    """Stream snapshots forever, reconnecting with backoff; returns on a fatal error,
    or after posting `RunsListed` when no run was chosen and the server has several.
    With several addresses (`--server a:50051,b:50051`) a failure moves to the next
    replica at once; the backoff applies once all of them failed."""
    attempt = 0
    replicas = Failover(sub.channel)
    while True:
        try:
            async with aio_channel(replicas.current) as channel:
                stub = sanctum_pb2_grpc.SanctumServiceStub(channel)
                md = sub.channel.metadata()
                if not sub.run_id and sub.ask_when_several:
                    listed = await stub.ListRuns(
                        spb.ListRunsRequest(page_size=PICKER_RUNS), metadata=md,
                        timeout=sub.list_timeout,
                    )
                    if len(listed.runs) > 1:
                        post(ConnectionChanged("connected"))
                        post(RunsListed(list(listed.runs), listed.total_size))
                        return
                mismatches, connected = 0, False
                resubscribe = True
                while resubscribe:
                    request = spb.WatchSnapshotsRequest(
                        run_id=sub.run_id, max_hz=sub.max_hz,
                        incremental=sub.incremental and mismatches < MAX_MISMATCHES,
                        compressed=sub.compressed)
                    held: spb.SanctumSnapshot | None = None
                    resubscribe = False
                    call = stub.WatchSnapshots(request, metadata=md)
                    async for resp in call:
                        if not connected:
                            connected, attempt = True, 0
                            replicas.succeeded()
                            post(ConnectionChanged("connected"))
                        kind = resp.WhichOneof("kind")
                        if kind == "heartbeat":
                            post(HeartbeatReceived(resp.heartbeat))
                            continue
                        try:
                            snapshot = _next_snapshot(held, resp)
                        except DeltaMismatch:
                            mismatches += 1
                            call.cancel()
                            resubscribe = True
                            break
                        if snapshot is not None:
                            held = snapshot
                            post(SnapshotReceived(snapshot))
                detail = "the server ended the stream"
        except grpc.RpcError as err:
            error = SanctumError.from_rpc_error(err)
            if error.code in FATAL_CODES:
                post(ConnectionChanged("error", f"{FATAL_CODES[error.code]}: {error.detail}"))
                return
            detail = _describe(error, sub.channel)
        if replicas.size > 1:
            detail = f"{replicas.current.target}: {detail}"
            if not replicas.failed():
                post(ConnectionChanged("disconnected", f"{detail}; trying "
                                       f"{replicas.current.target}", retry_in=0.0))
                continue
        delay = sub.backoff.delay(attempt)
        attempt += 1
        post(ConnectionChanged("disconnected", detail, retry_in=delay))
        await asyncio.sleep(delay)


def _next_snapshot(held: spb.SanctumSnapshot | None, resp: spb.WatchSnapshotsResponse
                   ) -> spb.SanctumSnapshot | None:
    """The snapshot after `resp`: a full one as sent, a delta applied to `held` (a new
    message: the app's copy stays intact); None for a kind this client does not know."""
    kind = resp.WhichOneof("kind")
    if kind == "snapshot":
        return resp.snapshot
    if kind == "delta":
        if held is None:
            raise DeltaMismatch("a delta before any full snapshot")
        return apply_delta(held, resp.delta)
    return None


def _describe(error: SanctumError, cfg: ChannelConfig) -> str:
    if error.code == grpc.StatusCode.NOT_FOUND:
        return f"run not found yet ({error.detail})"
    problem = tls_problem(error.detail, cfg)
    if problem is not None:
        return problem
    if error.code == grpc.StatusCode.UNAVAILABLE:
        return "sanctum is unreachable"
    return f"{error.code.name}: {error.detail}"
