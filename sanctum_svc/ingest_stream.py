"""IngestStream: bidirectional ingest, one acknowledgement per batch.

Its requests (IngestStreamRequest) are IngestRequests on the wire, parsed by Ingest's parser.

A producer keeps one stream open and sends batches without waiting: a reader task validates
and plans each batch (IngestPipeline.submit) and queues its write while earlier ones persist
and apply; the handler acknowledges them in submission order, each once it is persisted and
applied (exactly what Ingest's reply means for a whole stream). At most STREAM_DEPTH batches
of one stream are in flight: the reader does not take the next request off the wire until a
slot is free, so a fast producer is held back by HTTP/2 flow control, not by server memory.

A refused batch (undecodable, invalid, its producer streaming on another call, a store
failure) ends the stream with the status Ingest gives for it, after every earlier batch was
acknowledged; nothing of the refused batch, or of anything sent after it, is applied.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import grpc

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper_common import logs
from sanctum_svc.ingest import BatchResult, InvalidBatch, ProducerBusy
from sanctum_svc.store import StoreError

if TYPE_CHECKING:
    from sanctum_svc.servicer import RawIngest, SanctumServicer, Undecodable

log = logging.getLogger(__name__)

#: Batches of one stream validated but not yet acknowledged (being written or applied).
STREAM_DEPTH = 8


@dataclass
class _Refusal:
    """Why the reader stopped: the stream ends with this once earlier batches are acked."""

    status: grpc.Status | None = None
    code: grpc.StatusCode = grpc.StatusCode.OK
    message: str = ""
    invalid: InvalidBatch | None = None


_Item = tuple[int, "asyncio.Future[BatchResult]"] | _Refusal | None


class IngestStream:
    """The IngestStream handler of a SanctumServicer (its pipeline, readiness, refusals)."""

    def __init__(self, servicer: SanctumServicer) -> None:
        self.servicer = servicer

    async def __call__(self, request_iterator: AsyncIterator[RawIngest | Undecodable],
                       context: grpc.aio.ServicerContext) -> None:
        servicer = self.servicer
        await servicer._require_ready(context)
        pipeline = servicer.pipeline
        owner = object()  # this stream, for the producer fence
        queue: asyncio.Queue[_Item] = asyncio.Queue()
        slots = asyncio.Semaphore(STREAM_DEPTH)
        pending: deque[asyncio.Future[BatchResult]] = deque()
        reader = asyncio.ensure_future(
            self._read(request_iterator, queue, slots, pending, owner))
        try:
            while True:
                item = await queue.get()
                if item is None:
                    return
                if isinstance(item, _Refusal):
                    await self._refuse(item, context)
                    return
                batch_no, future = item
                try:
                    result = await future
                except StoreError as exc:
                    await self._store_failed(exc, batch_no, context)
                    return
                pending.popleft()
                ack = spb.IngestStreamResponse(
                    batch=batch_no, events_received=result.received,
                    events_applied=result.applied, events_duplicate=result.duplicate,
                    events_conflicting=result.conflicting)
                for run_id, producer_id in sorted(result.keys):
                    ack.cursors.add(run_id=run_id, producer_id=producer_id,
                                    last_seq=pipeline.cursor(run_id, producer_id))
                await context.write(ack)
                slots.release()
        finally:
            reader.cancel()
            for future in pending:  # the call ended early: nobody waits for these
                future.cancel()
            pipeline.release(owner)

    async def _read(self, requests: AsyncIterator[RawIngest | Undecodable],
                    queue: asyncio.Queue[_Item], slots: asyncio.Semaphore,
                    pending: deque[asyncio.Future[BatchResult]], owner: object) -> None:
        """Submit batches as they arrive, at most STREAM_DEPTH unacknowledged; then None
        (the client half-closed) or a _Refusal on the queue."""
        from sanctum_svc.servicer import Undecodable

        pipeline = self.servicer.pipeline
        iterator = requests.__aiter__()
        submitted = 0
        epoch = pipeline.epoch
        try:
            while True:
                await slots.acquire()
                try:
                    request = await iterator.__anext__()
                except StopAsyncIteration:
                    queue.put_nowait(None)
                    return
                if isinstance(request, Undecodable):
                    queue.put_nowait(_Refusal(status=request.status()))
                    return
                if pending and pipeline.epoch != epoch:
                    # A write failed since our last batch: if it was one of ours the next
                    # batch would be planned past a hole. Let the handler settle them first.
                    await asyncio.wait(list(pending))
                    if any(f.cancelled() or f.exception() for f in pending):
                        return  # the handler ends the stream with that failure
                epoch = pipeline.epoch
                if not submitted and request.request.batch.events:
                    first = request.request.batch.events[0]
                    logs.bind(run_id=first.run_id, producer_id=first.producer_id)
                try:
                    future = pipeline.submit(request.request.batch, raw=request.batch_bytes,
                                             owner=owner)
                except ProducerBusy as exc:
                    queue.put_nowait(_Refusal(
                        code=grpc.StatusCode.ABORTED,
                        message=f"batch {submitted} of this stream refused, nothing of it "
                                f"applied: {exc}; earlier batches stay applied"))
                    return
                except InvalidBatch as exc:
                    queue.put_nowait(_Refusal(invalid=exc, message=(
                        f"batch {submitted} of this stream rejected, nothing of it applied "
                        f"({exc}); earlier batches stay applied")))
                    return
                pending.append(future)
                queue.put_nowait((submitted, future))
                submitted += 1
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the handler must not wait forever on a dead reader
            log.exception("IngestStream reader failed")
            queue.put_nowait(_Refusal(code=grpc.StatusCode.INTERNAL, message=(
                f"sanctum failed reading this stream ({exc!r}); batches after the last "
                "acknowledged one were not applied (a server bug: report it)")))

    async def _refuse(self, refusal: _Refusal, context: grpc.aio.ServicerContext) -> None:
        from sanctum_svc.servicer import bad_request_status

        if refusal.status is not None:
            await context.abort_with_status(refusal.status)
        exc = refusal.invalid
        if exc is not None:
            if exc.accounted is not None:
                await exc.accounted
            # As for Ingest: a client flooding refused batches is slowed to a trickle.
            await asyncio.sleep(self.servicer.refusal_delay_s)
            await context.abort_with_status(bad_request_status(refusal.message, exc.violations))
        await context.abort(refusal.code, refusal.message)

    async def _store_failed(self, exc: StoreError, batch_no: int,
                            context: grpc.aio.ServicerContext) -> None:
        self.servicer.pipeline.metrics.store_errors.inc()
        log.error("ingest refused: %s", exc)
        if not exc.transient:  # resending the same batch fails the same way
            await context.abort(
                grpc.StatusCode.INTERNAL,
                f"sanctum could not store batch {batch_no} of this stream ({exc}); nothing "
                "of it (or later batches) was applied; resending it will fail the same way "
                "(a server bug: report it)")
        await context.abort(
            grpc.StatusCode.UNAVAILABLE,
            f"sanctum cannot persist events right now ({exc}); nothing of batch {batch_no} "
            "of this stream (or later ones) was applied, resend it later")
