"""Exit 0 when sanctum answers the gRPC health protocol with SERVING for the contract this
checkout speaks, esper.sanctum.v2.SanctumService (container healthcheck).

    python scripts/healthcheck.py [HOST:PORT] [--tls-ca FILE] [--service NAME] [--timeout S]

Health needs no token. For a sanctum serving TLS give --tls-ca (the CA that signed its
certificate; for a self-signed one, the certificate itself), and a HOST the certificate names.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from esper_common.channel import ChannelConfig, SanctumError, sync_channel
from esper_common.diagnose import describe

SERVICE = "esper.sanctum.v2.SanctumService"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="healthcheck.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", nargs="?", default="127.0.0.1:50051", metavar="HOST:PORT")
    parser.add_argument("--tls-ca", type=Path, metavar="FILE",
                        help="CA certificate (PEM) of a TLS sanctum")
    parser.add_argument("--service", default=SERVICE,
                        help=f"service to ask about (default {SERVICE}; '' = the server as a "
                             "whole)")
    parser.add_argument("--timeout", type=float, default=3.0, metavar="S")
    args = parser.parse_args(argv)
    if args.tls_ca is not None and not args.tls_ca.is_file():
        print(f"healthcheck: --tls-ca {args.tls_ca}: no such file", file=sys.stderr)
        return 2
    cfg = ChannelConfig(args.target, tls_ca=args.tls_ca)
    with sync_channel(cfg) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=args.service), timeout=args.timeout)
        except grpc.RpcError as err:
            why = describe(SanctumError.from_rpc_error(err), cfg)
            if err.code() == grpc.StatusCode.NOT_FOUND:
                why += f" (it does not serve {args.service}: an older sanctum?)"
            print(f"sanctum at {args.target}: {why}", file=sys.stderr)
            return 1
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    print(f"sanctum at {args.target}: {status}")
    return 0 if reply.status == health_pb2.HealthCheckResponse.SERVING else 1


if __name__ == "__main__":
    sys.exit(main())
