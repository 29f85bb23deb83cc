"""Calls to a retired contract version get one clear error, not UNIMPLEMENTED.

Sanctum speaks esper.sanctum.v2. A client built against esper.sanctum.v1 (an older trainer,
esper-tui, a grpcurl script or generated stubs) gets FAILED_PRECONDITION on every method,
with what changed and how to upgrade. Nothing is converted: v2 removed fields a v1 reader
would silently read as zeros.
"""

from __future__ import annotations

from typing import Any

import grpc

RETIRED_SERVICE = "esper.sanctum.v1.SanctumService"
CURRENT_SERVICE = "esper.sanctum.v2.SanctumService"
PREFIX = f"/{RETIRED_SERVICE}/"

UPGRADE = (
    "this sanctum speaks esper.sanctum.v2 (the snapshot was reshaped into sections that "
    "embed the telemetry payloads); esper.sanctum.v1 is no longer served. Upgrade the "
    "client: `pip install -U esper-sanctum` for esper-tui and esper-trainer; for other "
    "clients regenerate stubs from proto/esper/sanctum/v2/sanctum.proto and call "
    f"/{CURRENT_SERVICE}/<method>"
)


def refusal(method: str) -> str:
    """The error message for a call of `method` (its full /service/Method path)."""
    return f"{method.removeprefix('/')}: {UPGRADE}"


class RetiredServiceHandler(grpc.GenericRpcHandler):
    """Answers every method of the retired service with FAILED_PRECONDITION. Registered as
    stream-stream, which serves any call shape without reading its requests."""

    def service(self, handler_call_details: grpc.HandlerCallDetails
                ) -> grpc.RpcMethodHandler | None:
        method = handler_call_details.method
        if not method.startswith(PREFIX):
            return None
        message = refusal(method)

        async def refuse(_requests: Any, context: grpc.aio.ServicerContext) -> None:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, message)

        return grpc.stream_stream_rpc_method_handler(refuse)
