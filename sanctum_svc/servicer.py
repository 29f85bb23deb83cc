"""SanctumService handlers (grpc.aio) and their registration.

WatchSnapshots is registered with an identity response serializer: the fan-out hands it
bytes serialized once per snapshot version and shared by every subscriber.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import DecodeError
from google.protobuf.message import Message as ProtoMessage
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper_common import logs
from sanctum_svc.aggregator import Aggregator
from sanctum_svc.fanout import Fanout
from sanctum_svc.history_rpcs import HistoryRpcs
from sanctum_svc.ingest import BatchResult, IngestPipeline, InvalidBatch, ProducerBusy
from sanctum_svc.ingest_stream import IngestStream
from sanctum_svc.retired import CURRENT_SERVICE
from sanctum_svc.run_admin import RunAdmin
from sanctum_svc.run_list import PageError, list_runs
from sanctum_svc.store import StoreError
from sanctum_svc.validate import Violation, clip

if TYPE_CHECKING:  # cluster mode needs the `cluster` extra (nats-py); imported lazily
    from sanctum_svc.cluster.pipeline import ClusterPipeline

log = logging.getLogger(__name__)

SERVICE_NAME = CURRENT_SERVICE

#: Accepted batches of one Ingest stream being written while the next one is validated.
INGEST_DEPTH = 4


#: Serialized BadRequest bytes per status. gRPC clients refuse trailers over 8 KiB (the
#: detail travels base64-encoded in one), so violations past this are summarised instead.
DETAIL_BUDGET = 4096


def bad_request_status(message: str, violations: list[Violation]) -> grpc.Status:
    """INVALID_ARGUMENT carrying a google.rpc.BadRequest with one FieldViolation per rule
    (as many as fit DETAIL_BUDGET; the message says how many more there were)."""
    bad = error_details_pb2.BadRequest()
    for n, v in enumerate(violations):
        fv = error_details_pb2.BadRequest.FieldViolation(
            field=clip(v.field, 200), description=clip(v.description, 300))
        if n and bad.ByteSize() + fv.ByteSize() + 4 > DETAIL_BUDGET:
            message += f" [{len(violations) - n} more violations not listed]"
            break
        bad.field_violations.append(fv)
    detail = any_pb2.Any()
    detail.Pack(bad)
    return rpc_status.to_status(status_pb2.Status(
        code=code_pb2.INVALID_ARGUMENT, message=clip(message, 1000), details=[detail]))


class Undecodable:
    """A request whose bytes do not parse as the method's message type (stands in for it)."""

    def __init__(self, type_name: str, error: str) -> None:
        self.type_name = type_name
        self.error = error

    def status(self) -> grpc.Status:
        return bad_request_status(
            f"request could not be parsed ({self.error}); nothing was applied",
            [Violation("request", f"not a valid {self.type_name}: {self.error}")])


def _lenient(message_type: type[ProtoMessage]) -> Callable[[bytes], ProtoMessage | Undecodable]:
    """A request deserializer that never raises. gRPC turns a raising deserializer into
    UNKNOWN "Unexpected <class DecodeError>"; handlers turn Undecodable into
    INVALID_ARGUMENT with a BadRequest detail instead."""
    name = message_type.DESCRIPTOR.full_name

    def parse(data: bytes) -> ProtoMessage | Undecodable:
        try:
            return message_type.FromString(data)
        except DecodeError as exc:
            return Undecodable(name, str(exc))

    return parse


class RawIngest:
    """A parsed IngestRequest and the exact bytes of its batch (stored as received)."""

    __slots__ = ("request", "batch_bytes")

    def __init__(self, request: spb.IngestRequest, batch_bytes: bytes | None) -> None:
        self.request = request
        self.batch_bytes = batch_bytes


def batch_bytes(data: bytes) -> bytes | None:
    """The EventBatch bytes inside a serialized IngestRequest when the request is exactly
    one `batch` record (what protobuf encoders write); None otherwise."""
    if len(data) < 2 or data[0] != 0x0A:
        return None
    size = shift = 0
    pos = 1
    while True:
        if pos >= len(data) or pos > 5:
            return None
        b = data[pos]
        pos += 1
        size |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            break
    return data[pos:] if pos + size == len(data) else None


def _parse_ingest(data: bytes) -> RawIngest | Undecodable:
    """Ingest's request deserializer: never raises (see `_lenient`), keeps the batch bytes."""
    try:
        request = spb.IngestRequest.FromString(data)
    except DecodeError as exc:
        return Undecodable(spb.IngestRequest.DESCRIPTOR.full_name, str(exc))
    return RawIngest(request, batch_bytes(data))


def _checked_unary(handler: Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]
                   ) -> Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]:
    """Refuse an undecodable request before `handler` sees it."""

    async def wrapper(request: Any, context: grpc.aio.ServicerContext) -> Any:
        if isinstance(request, Undecodable):
            await context.abort_with_status(request.status())
        return await handler(request, context)

    return wrapper


class SanctumServicer:
    """The RPCs over an Aggregator, an IngestPipeline and a Fanout; the history ones
    (Series, Export, DeleteRun) are in sanctum_svc.history_rpcs."""

    def __init__(self, aggregator: Aggregator, pipeline: IngestPipeline | ClusterPipeline,
                 fanout: Fanout, refusal_delay_s: float = 0.0,
                 admin: RunAdmin | None = None) -> None:
        self.aggregator = aggregator
        self.history = HistoryRpcs(
            pipeline if isinstance(pipeline, IngestPipeline) else pipeline.local, admin)
        self.refusal_delay_s = refusal_delay_s
        self.pipeline = pipeline
        self.fanout = fanout
        #: False while the store is replayed; RPCs other than health get UNAVAILABLE.
        self.ready = False

    async def _require_ready(self, context: grpc.aio.ServicerContext) -> None:
        if not self.ready:
            await context.abort(grpc.StatusCode.UNAVAILABLE,
                                "sanctum is starting (replaying its store); retry shortly")

    async def Ingest(self, request_iterator: AsyncIterator[RawIngest],  # noqa: N802
                     context: grpc.aio.ServicerContext) -> spb.IngestResponse:
        """Batches are validated in order; up to INGEST_DEPTH accepted ones are written
        while the next is validated. Each is applied only after its own commit; the reply
        (the acknowledgement) comes after the last one is applied."""
        await self._require_ready(context)
        reply = spb.IngestResponse()
        keys: set[tuple[str, str]] = set()
        pending: deque[tuple[int, asyncio.Future[BatchResult]]] = deque()
        submitted = 0
        epoch = self.pipeline.epoch
        owner = object()  # this stream, for the producer fence

        async def settle(limit: int) -> None:
            while len(pending) > limit:
                batch_no, future = pending[0]
                try:
                    result = await future
                except StoreError as exc:
                    self.pipeline.metrics.store_errors.inc()
                    log.error("ingest refused: %s", exc)
                    if not exc.transient:  # resending the same batch fails the same way
                        await context.abort(
                            grpc.StatusCode.INTERNAL,
                            f"sanctum could not store batch {batch_no} of this stream "
                            f"({exc}); nothing of it (or later batches) was applied; "
                            "resending it will fail the same way (a server bug: report it)")
                    await context.abort(
                        grpc.StatusCode.UNAVAILABLE,
                        f"sanctum cannot persist events right now ({exc}); nothing of batch "
                        f"{batch_no} of this stream (or later ones) was applied, resend it later")
                pending.popleft()
                reply.batches += 1
                reply.events_received += result.received
                reply.events_applied += result.applied
                reply.events_duplicate += result.duplicate
                reply.events_conflicting += result.conflicting
                keys.update(result.keys)

        try:
            async for request in request_iterator:
                if isinstance(request, Undecodable):  # earlier batches stay applied
                    await settle(0)
                    await context.abort_with_status(request.status())
                if pending and self.pipeline.epoch != epoch:
                    # A write failed since our last batch: if it was one of ours (or queued
                    # behind it), the next batch would be applied past a hole. Stop here.
                    await settle(0)
                epoch = self.pipeline.epoch
                if not submitted and request.request.batch.events:
                    first = request.request.batch.events[0]
                    logs.bind(run_id=first.run_id, producer_id=first.producer_id)
                try:
                    future = self.pipeline.submit(request.request.batch, raw=request.batch_bytes,
                                                  owner=owner)
                except ProducerBusy as exc:
                    await settle(0)  # earlier batches stay applied
                    await context.abort(grpc.StatusCode.ABORTED,
                                        f"batch {submitted} of this stream refused, nothing of "
                                        f"it applied: {exc}; earlier batches stay applied")
                except InvalidBatch as exc:
                    await settle(0)  # earlier batches stay applied
                    if exc.accounted is not None:
                        await exc.accounted
                    # A refused stream waits a moment before it hears why: a client that
                    # floods refused batches one call after another is slowed to a trickle
                    # (the loop stays free for others); a producer that got one wrong
                    # loses nothing.
                    await asyncio.sleep(self.refusal_delay_s)
                    await context.abort_with_status(bad_request_status(
                        f"batch {submitted} of this stream rejected, nothing of it applied "
                        f"({exc}); earlier batches stay applied", exc.violations))
                    return reply
                pending.append((submitted, future))
                submitted += 1
                if len(pending) > INGEST_DEPTH:
                    await settle(INGEST_DEPTH)
            await settle(0)
        finally:
            for _, future in pending:  # the call ended early: nobody waits for these
                future.cancel()
            self.pipeline.release(owner)
        for run_id, producer_id in sorted(keys):
            reply.cursors.add(run_id=run_id, producer_id=producer_id,
                              last_seq=self.pipeline.cursor(run_id, producer_id))
        return reply

    async def GetResumeCursor(self, request: spb.GetResumeCursorRequest,  # noqa: N802
                              context: grpc.aio.ServicerContext
                              ) -> spb.GetResumeCursorResponse:
        await self._require_ready(context)
        logs.bind(run_id=request.run_id, producer_id=request.producer_id or None)
        if not request.run_id:
            await context.abort_with_status(bad_request_status(
                "run_id is required", [Violation("run_id", "run_id is required")]))
        try:
            await self.pipeline.caught_up()
        except StoreError as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE,
                                f"sanctum cannot read the replicated log right now ({exc}); "
                                "retry shortly or ask another replica")
        reply = spb.GetResumeCursorResponse()
        if request.producer_id:
            reply.cursors.add(run_id=request.run_id, producer_id=request.producer_id,
                              last_seq=self.pipeline.cursor(request.run_id, request.producer_id))
        else:
            for producer_id, seq in self.pipeline.cursors(request.run_id):
                reply.cursors.add(run_id=request.run_id, producer_id=producer_id, last_seq=seq)
        return reply

    async def GetSnapshot(self, request: spb.GetSnapshotRequest,  # noqa: N802
                          context: grpc.aio.ServicerContext) -> spb.GetSnapshotResponse:
        await self._require_ready(context)
        run_id = request.run_id or self.aggregator.latest_run_id()
        logs.bind(run_id=run_id or None)
        run = self.aggregator.get(run_id) if run_id else None
        if run is None:
            what = f"run {request.run_id!r}" if request.run_id else "any run"
            await context.abort(grpc.StatusCode.NOT_FOUND, f"sanctum has no events for {what}")
        assert run is not None  # context.abort raised otherwise
        return spb.GetSnapshotResponse(snapshot=run.snapshot(time.time()))

    async def ListRuns(self, request: spb.ListRunsRequest,  # noqa: N802
                       context: grpc.aio.ServicerContext) -> spb.ListRunsResponse:
        await self._require_ready(context)
        try:
            return list_runs(self.aggregator, request, time.time(),
                             self.aggregator.snapshot_budget)
        except PageError as exc:
            await context.abort_with_status(bad_request_status(
                str(exc), [Violation(exc.field, str(exc))]))
            raise  # abort_with_status raises; this line is never reached

    async def WatchSnapshots(self, request: spb.WatchSnapshotsRequest,  # noqa: N802
                             context: grpc.aio.ServicerContext) -> None:
        await self._require_ready(context)
        logs.bind(run_id=request.run_id or None)
        try:
            self.fanout.hz_for(request)
        except ValueError as exc:
            await context.abort_with_status(bad_request_status(
                str(exc), [Violation("max_hz", str(exc))]))
        await self.fanout.watch(request, context)

    def _ready(self, handler: Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]
               ) -> Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]:
        async def wrapper(request: Any, context: grpc.aio.ServicerContext) -> Any:
            await self._require_ready(context)
            return await handler(request, context)

        return wrapper

    async def _export(self, request: Any, context: grpc.aio.ServicerContext
                      ) -> AsyncIterator[spb.ExportResponse]:
        if isinstance(request, Undecodable):
            await context.abort_with_status(request.status())
        await self._require_ready(context)
        async for chunk in self.history.export(request, context):
            yield chunk

    def generic_handler(self) -> grpc.GenericRpcHandler:
        """Every method; WatchSnapshots sends pre-serialized bytes as they are."""
        handlers = {
            "Ingest": grpc.stream_unary_rpc_method_handler(
                self.Ingest, request_deserializer=_parse_ingest,
                response_serializer=spb.IngestResponse.SerializeToString),
            "IngestStream": grpc.stream_stream_rpc_method_handler(
                IngestStream(self), request_deserializer=_parse_ingest,
                response_serializer=spb.IngestStreamResponse.SerializeToString),
            "GetResumeCursor": grpc.unary_unary_rpc_method_handler(
                _checked_unary(self.GetResumeCursor),
                request_deserializer=_lenient(spb.GetResumeCursorRequest),
                response_serializer=spb.GetResumeCursorResponse.SerializeToString),
            "WatchSnapshots": grpc.unary_stream_rpc_method_handler(
                _checked_unary(self.WatchSnapshots),
                request_deserializer=_lenient(spb.WatchSnapshotsRequest),
                response_serializer=_identity),
            "GetSnapshot": grpc.unary_unary_rpc_method_handler(
                _checked_unary(self.GetSnapshot),
                request_deserializer=_lenient(spb.GetSnapshotRequest),
                response_serializer=spb.GetSnapshotResponse.SerializeToString),
            "ListRuns": grpc.unary_unary_rpc_method_handler(
                _checked_unary(self.ListRuns), request_deserializer=_lenient(spb.ListRunsRequest),
                response_serializer=spb.ListRunsResponse.SerializeToString),
            "Series": grpc.unary_unary_rpc_method_handler(
                _checked_unary(self._ready(self.history.series)),
                request_deserializer=_lenient(spb.SeriesRequest),
                response_serializer=spb.SeriesResponse.SerializeToString),
            "Export": grpc.unary_stream_rpc_method_handler(
                self._export, request_deserializer=_lenient(spb.ExportRequest),
                response_serializer=spb.ExportResponse.SerializeToString),
            "DeleteRun": grpc.unary_unary_rpc_method_handler(
                _checked_unary(self._ready(self.history.delete_run)),
                request_deserializer=_lenient(spb.DeleteRunRequest),
                response_serializer=spb.DeleteRunResponse.SerializeToString),
        }
        return grpc.method_handlers_generic_handler(SERVICE_NAME, handlers)


def _identity(data: bytes) -> bytes:
    return data
