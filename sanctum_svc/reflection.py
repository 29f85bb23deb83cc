"""Server reflection that describes the health service to anyone, everything else to tokens.

Health is exempt from the token so probes and `grpcurl ... grpc.health.v1.Health/Check`
work without one. grpcurl resolves the method by reflection first, so reflection that
needed the token made that documented command fail. Without a (read or full) token this
servicer lists and describes only the health and reflection services; their schemas are
public and say nothing about runs. With a token it answers everything, as before.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable

import grpc
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2 as rpb
from grpc_reflection.v1alpha import reflection_pb2_grpc
from grpc_reflection.v1alpha._async import ReflectionServicer

from sanctum_svc.auth import REFLECTION_METHOD, SERVICE, bearer, decide

HEALTH = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
REFLECTION = rpb.DESCRIPTOR.services_by_name["ServerReflection"].full_name
assert f"/{REFLECTION}/ServerReflectionInfo" == REFLECTION_METHOD
#: What may be described without a token: the health and reflection packages' own files.
PUBLIC_PACKAGES = (health_pb2.DESCRIPTOR.package, rpb.DESCRIPTOR.package)
PUBLIC_FILES = frozenset({health_pb2.DESCRIPTOR.name, rpb.DESCRIPTOR.name})
NEEDS_TOKEN = ("sanctum requires a token: without one only grpc.health.v1.Health is described "
               "(grpcurl ... grpc.health.v1.Health/Check works); send 'authorization: Bearer "
               "<token>' (grpcurl -H) to list or describe the rest")


class TokenAwareReflection(ReflectionServicer):
    """Full reflection with a valid token; only the public services without one."""

    def __init__(self, service_names: Iterable[str], token: str | None,
                 read_token: str | None) -> None:
        super().__init__(service_names)
        self._token, self._read_token = token, read_token

    def authorized(self, context: grpc.aio.ServicerContext) -> bool:
        presented = bearer(context.invocation_metadata())
        return decide(SERVICE + "ListRuns", presented, self._token, self._read_token) is None

    async def ServerReflectionInfo(  # noqa: N802 - the generated method name
        self, request_iterator: AsyncIterable[rpb.ServerReflectionRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[rpb.ServerReflectionResponse]:
        if self.authorized(context):
            async for response in super().ServerReflectionInfo(request_iterator, context):
                yield response
            return
        async for request in request_iterator:
            yield self._public_answer(request)

    def _public_answer(self, request: rpb.ServerReflectionRequest) -> rpb.ServerReflectionResponse:
        """Describe a health (or reflection) symbol or file; refuse anything else, listing
        included (a list of only health would hide that a token is missing)."""
        symbol = request.file_containing_symbol
        if symbol and symbol.startswith(tuple(f"{p}." for p in PUBLIC_PACKAGES)):
            return self._file_containing_symbol(request, symbol)
        if request.file_by_filename in PUBLIC_FILES:
            return self._file_by_filename(request, request.file_by_filename)
        return rpb.ServerReflectionResponse(
            original_request=request,
            error_response=rpb.ErrorResponse(
                error_code=grpc.StatusCode.UNAUTHENTICATED.value[0], error_message=NEEDS_TOKEN))


def enable_reflection(service_names: Iterable[str], server: grpc.aio.Server,
                      token: str | None, read_token: str | None) -> None:
    """Add reflection for `service_names` (plus itself) to `server`."""
    names = (*service_names, REFLECTION)
    if token is None:
        servicer: ReflectionServicer = ReflectionServicer(names)
    else:
        servicer = TokenAwareReflection(names, token, read_token)
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(servicer, server)
