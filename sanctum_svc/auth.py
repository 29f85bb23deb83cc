"""Bearer-token authorization as a server interceptor.

With a token configured every RPC except gRPC health (and the retired v1 service, which only
says how to upgrade) needs `authorization: Bearer <token>` (reflection checks it itself, to
describe the health service to anyone).
A separate read token (if configured) may call only the read RPCs; Ingest with it is
PERMISSION_DENIED. Tokens are compared in constant time.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Iterable

import grpc

from sanctum_svc.retired import CURRENT_SERVICE
from sanctum_svc.retired import PREFIX as RETIRED_PREFIX

SERVICE = f"/{CURRENT_SERVICE}/"
HEALTH_PREFIX = "/grpc.health.v1.Health/"
#: Reflection checks the token itself: it describes health to anyone (sanctum_svc.reflection).
REFLECTION_METHOD = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
#: Methods a read-only token may not call (it may call everything else, incl. reflection).
WRITE_METHODS = frozenset({SERVICE + "Ingest", SERVICE + "IngestStream", SERVICE + "DeleteRun"})


def bearer(metadata: Iterable[tuple[str, str | bytes]] | None) -> str | None:
    """The bearer token in call metadata, or None."""
    for item in metadata or ():
        key, value = item
        if key == "authorization":
            scheme, _, token = str(value).partition(" ")
            return token.strip() if scheme.lower() == "bearer" else None
    return None


def _same(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and hmac.compare_digest(a.encode(), b.encode())


def decide(method: str, token: str | None, full: str | None,
           read: str | None) -> tuple[grpc.StatusCode, str] | None:
    """None if the call may proceed, else the status to refuse it with."""
    if full is None or method.startswith((HEALTH_PREFIX, RETIRED_PREFIX)):
        return None
    if method == REFLECTION_METHOD:
        return None
    if _same(token, full):
        return None
    if _same(token, read):
        if method in WRITE_METHODS:
            return (grpc.StatusCode.PERMISSION_DENIED,
                    f"the read-only token may not call {method.rsplit('/', 1)[-1]}; use "
                    "the full token (--token)")
        return None
    if token is None:
        return (grpc.StatusCode.UNAUTHENTICATED,
                "missing 'authorization: Bearer <token>' metadata (sanctum requires a token)")
    return grpc.StatusCode.UNAUTHENTICATED, "invalid bearer token"


class BearerAuthInterceptor(grpc.aio.ServerInterceptor):
    """Refuses calls without the right bearer token (health is always allowed)."""

    def __init__(self, token: str | None, read_token: str | None = None) -> None:
        self.token = token
        self.read_token = read_token

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        refusal = decide(details.method, bearer(details.invocation_metadata),
                         self.token, self.read_token)
        handler = await continuation(details)
        if refusal is None or handler is None:
            return handler
        return _refusing(handler, *refusal)


def _refusing(handler: grpc.RpcMethodHandler, code: grpc.StatusCode,
              message: str) -> grpc.RpcMethodHandler:
    """A handler of the same kind as `handler` that aborts with (code, message)."""

    async def deny(_request: object, context: grpc.aio.ServicerContext) -> None:
        await context.abort(code, message)

    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(deny)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(deny)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(deny)
    return grpc.unary_unary_rpc_method_handler(deny)
