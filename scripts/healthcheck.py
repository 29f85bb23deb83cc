"""Exit 0 when sanctum answers the gRPC health protocol with SERVING for the contract this
checkout speaks, esper.sanctum.v2.SanctumService (container healthcheck)."""

from __future__ import annotations

import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

SERVICE = "esper.sanctum.v2.SanctumService"


def main() -> int:
    target = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:50051"
    with grpc.insecure_channel(target) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=SERVICE), timeout=3
            )
        except grpc.RpcError as err:
            why = err.code().name
            if err.code() == grpc.StatusCode.NOT_FOUND:
                why += f": it does not serve {SERVICE} (an older sanctum?)"
            print(f"sanctum at {target}: {why}", file=sys.stderr)
            return 1
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    print(f"sanctum at {target}: {status}")
    return 0 if reply.status == health_pb2.HealthCheckResponse.SERVING else 1


if __name__ == "__main__":
    sys.exit(main())
