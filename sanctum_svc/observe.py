"""Every RPC sanctum serves, counted, timed and logged (a server interceptor).

Prometheus, in the usual gRPC server names so dashboards built for them work:
`grpc_server_started_total`, `grpc_server_handled_total` (by status code) and
`grpc_server_handling_seconds` (a stream's whole life for streaming RPCs), each labelled
with grpc_type, grpc_service and grpc_method. Each call runs inside `logs.fields(rpc=...,
peer=...)`, so whatever is logged while serving it says which call it was; its end is
logged with its status and duration (health checks at debug: probes call them every few s).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from prometheus_client import CollectorRegistry, Counter, Histogram

from esper_common import logs

log = logging.getLogger(__name__)

#: Unary calls take milliseconds; streams (WatchSnapshots, Ingest) may last hours.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0, 300.0,
           3600.0)
_CODES = {c.value[0]: c for c in grpc.StatusCode}
QUIET_PREFIXES = ("/grpc.health.v1.Health/",)


class RpcMetrics:
    """The three per-method series, in one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ("grpc_type", "grpc_service", "grpc_method")
        self.started = Counter("grpc_server_started", "RPCs started on the server",
                               labels, registry=registry)
        self.handled = Counter("grpc_server_handled", "RPCs completed on the server, by status",
                               (*labels, "grpc_code"), registry=registry)
        self.seconds = Histogram("grpc_server_handling_seconds",
                                 "Time from the start of an RPC to its status",
                                 labels, buckets=BUCKETS, registry=registry)


def _kind(handler: grpc.RpcMethodHandler) -> str:
    if handler.request_streaming and handler.response_streaming:
        return "bidi_stream"
    if handler.request_streaming:
        return "client_stream"
    return "server_stream" if handler.response_streaming else "unary"


def _code(context: grpc.aio.ServicerContext, error: BaseException | None) -> str:
    if isinstance(error, asyncio.CancelledError):
        return "CANCELLED"
    code: Any = None
    try:
        code = context.code()
    except Exception:  # not every context implementation has it
        code = None
    if isinstance(code, grpc.StatusCode):
        return code.name
    if isinstance(code, int) and code in _CODES:
        return _CODES[code].name
    if error is not None and not isinstance(error, grpc.aio.AbortError):
        return "UNKNOWN"
    return "OK"


class ObservingInterceptor(grpc.aio.ServerInterceptor):
    """Counts, times and logs every call, whatever later interceptors decide."""

    def __init__(self, metrics: RpcMetrics) -> None:
        self.metrics = metrics

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None:
            return handler
        return _wrap(handler, details.method, self.metrics)


def _wrap(handler: grpc.RpcMethodHandler, method: str,
          metrics: RpcMetrics) -> grpc.RpcMethodHandler:
    service, _, name = method.lstrip("/").rpartition("/")
    kind = _kind(handler)
    labels = (kind, service, name)
    quiet = method.startswith(QUIET_PREFIXES)
    behavior = (handler.unary_unary or handler.unary_stream or handler.stream_unary
                or handler.stream_stream)

    def begin(context: grpc.aio.ServicerContext) -> float:
        metrics.started.labels(*labels).inc()
        return time.perf_counter()

    def end(context: grpc.aio.ServicerContext, started: float,
            error: BaseException | None) -> None:
        seconds = time.perf_counter() - started
        code = _code(context, error)
        metrics.handled.labels(*labels, code).inc()
        metrics.seconds.labels(*labels).observe(seconds)
        logs.bind(status=code, duration_ms=round(seconds * 1000, 1))
        log.log(logging.DEBUG if quiet else logging.INFO, "%s %s", name, code)

    if inspect.isasyncgenfunction(behavior):
        async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            with logs.fields(rpc=name, peer=context.peer()):
                started, error = begin(context), None
                try:
                    async for item in behavior(request, context):
                        yield item
                except BaseException as exc:
                    error = exc
                    raise
                finally:
                    end(context, started, error)
        wrapped: Callable[..., Any] = stream
    else:
        async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
            with logs.fields(rpc=name, peer=context.peer()):
                started, error = begin(context), None
                try:
                    result = behavior(request, context)
                    return await result if inspect.isawaitable(result) else result
                except BaseException as exc:
                    error = exc
                    raise
                finally:
                    end(context, started, error)
        wrapped = call

    factory = {
        "unary": grpc.unary_unary_rpc_method_handler,
        "server_stream": grpc.unary_stream_rpc_method_handler,
        "client_stream": grpc.stream_unary_rpc_method_handler,
        "bidi_stream": grpc.stream_stream_rpc_method_handler,
    }[kind]
    return factory(wrapped, request_deserializer=handler.request_deserializer,
                   response_serializer=handler.response_serializer)
