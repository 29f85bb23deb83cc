"""Series, Export and DeleteRun: the handlers that read or change a run's whole history.

Series and Export read the series index on the store thread (sanctum_svc.series_query),
so they see exactly what is committed, including points not yet in a block; a query is one
call there, an export one call per chunk (ingest goes on between them).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper_common import logs
from sanctum_svc import series_query
from sanctum_svc.ingest import IngestPipeline
from sanctum_svc.run_admin import RunAdmin, RunBusy
from sanctum_svc.series_index import DamagedBlock
from sanctum_svc.store import StoreError


class HistoryRpcs:
    """Handlers of Series, Export and DeleteRun (registered by SanctumServicer)."""

    def __init__(self, pipeline: IngestPipeline, admin: RunAdmin | None) -> None:
        self.pipeline = pipeline
        self.admin = admin
        #: Why these RPCs cannot be answered here (cluster mode), or None.
        self.unavailable: str | None = None

    @property
    def _store(self):  # noqa: ANN202 - the EventStore behind the pipeline's AsyncStore
        return self.pipeline.store.store

    async def _known(self, run_id: str, context: grpc.aio.ServicerContext) -> None:
        logs.bind(run_id=run_id or None)
        if self.unavailable is not None:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, self.unavailable)
        if not run_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "run_id is required")
        if self.pipeline.aggregator.get(run_id) is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"sanctum has no run {run_id!r}")

    async def series(self, request: spb.SeriesRequest,
                     context: grpc.aio.ServicerContext) -> spb.SeriesResponse:
        await self._known(request.run_id, context)
        try:
            return await self.pipeline.store.call(series_query.query, self._store, request)
        except DamagedBlock as exc:
            await context.abort(grpc.StatusCode.DATA_LOSS, str(exc))
            raise
        except series_query.QueryError as exc:
            from sanctum_svc.servicer import bad_request_status
            from sanctum_svc.validate import Violation

            await context.abort_with_status(bad_request_status(
                str(exc), [Violation(exc.field, str(exc))]))
            raise  # abort_with_status raises; never reached

    async def export(self, request: spb.ExportRequest, context: grpc.aio.ServicerContext
                     ) -> AsyncIterator[spb.ExportResponse]:
        await self._known(request.run_id, context)
        import time

        run = self.pipeline.aggregator.get(request.run_id)
        assert run is not None
        yield spb.ExportResponse(summary=run.summary(time.time()))
        if run.config is not None:
            yield spb.ExportResponse(config=run.config)
        call = self.pipeline.store.call
        keys = await call(series_query.export_keys, self._store, request.run_id)
        for key, n in keys:
            first = 0
            while first < n:
                try:
                    chunk = await call(series_query.export_chunk, self._store, key, first)
                except DamagedBlock as exc:
                    await context.abort(grpc.StatusCode.DATA_LOSS, str(exc))
                    raise
                if not chunk.steps:
                    break
                first = chunk.steps[-1] + 1
                yield spb.ExportResponse(series=chunk)

    async def delete_run(self, request: spb.DeleteRunRequest,
                         context: grpc.aio.ServicerContext) -> spb.DeleteRunResponse:
        await self._known(request.run_id, context)
        if self.admin is None:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "sanctum is starting")
        assert self.admin is not None
        try:
            deleted = await self.admin.delete([request.run_id])
        except RunBusy as exc:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
            raise
        except StoreError as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE,
                                f"could not delete the run: {exc}. {exc.hint}")
            raise
        return spb.DeleteRunResponse(events_deleted=deleted)
