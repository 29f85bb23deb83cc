"""Connection and stream limits: a flood of idle or unauthenticated connections must not
lock legitimate clients (or health probes) out.

Without limits, 1,100 idle TCP connections under a 1,024-fd limit took every descriptor
(new clients, health checks and the store alike were refused) and 1,000 unauthenticated
health watches were held forever. The defenses, each a documented gRPC core channel arg
or a count kept here:

- the process's fd soft limit is raised to its hard limit at start (`raise_fd_limit`);
- at most `max_connections` connections, and never more than the fd limit minus
  FD_RESERVE (`grpc.max_allowed_incoming_connections`): descriptors stay for the store;
- a connection that has not finished its handshake (TLS, HTTP/2 preface and SETTINGS)
  within `handshake_timeout_s` is closed (`grpc.server_handshake_timeout_ms`), and one
  with no RPC for `idle_timeout_s` gets GOAWAY (`grpc.max_connection_idle_ms`);
- the server pings quiet connections and drops peers that do not answer
  (`grpc.keepalive_time_ms`, `grpc.keepalive_timeout_ms`): a vanished laptop's streams end;
- streams per connection are capped (`grpc.max_concurrent_streams`), and so are
  WatchSnapshots subscribers (fanout) and health Watch streams (`BoundedHealthServicer`);
  health Check is never limited beyond the connection cap.
"""

from __future__ import annotations

import logging
import resource

import grpc
from grpc_health.v1 import health_pb2
from grpc_health.v1.health import aio as health_aio

from sanctum_svc.config import ServerConfig

log = logging.getLogger(__name__)

#: Descriptors kept for everything but client connections: the store (database, WAL,
#: shared memory), the metrics endpoint, stdio, gRPC's and asyncio's own wake-up fds.
FD_RESERVE = 64
#: Server keepalive: ping a connection quiet for this long, drop it if no answer in time.
KEEPALIVE_TIME_MS = 60_000
KEEPALIVE_TIMEOUT_MS = 20_000
#: The kernel's ceiling for a soft limit when the hard limit is "unlimited".
_NR_OPEN = "/proc/sys/fs/nr_open"


def raise_fd_limit() -> int:
    """Raise RLIMIT_NOFILE's soft limit to the hard limit where allowed; return the soft
    limit in effect afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard
    if hard == resource.RLIM_INFINITY:
        try:
            with open(_NR_OPEN) as fh:
                target = int(fh.read())
        except (OSError, ValueError):
            target = 1 << 20
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            log.info("raised the open-file limit from %d to %d", soft, target)
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-file limit from %d to %d: %s",
                        soft, target, exc)
    return int(soft) if soft != resource.RLIM_INFINITY else 1 << 20


def connection_cap(config: ServerConfig, fd_limit: int) -> int:
    """How many connections to accept at once: the configured cap, within the fd limit."""
    return max(16, min(config.max_connections, fd_limit - FD_RESERVE))


def connection_options(config: ServerConfig, fd_limit: int) -> list[tuple[str, int]]:
    """gRPC core channel args for the limits above (names as in grpc/impl/channel_arg_names.h)."""
    return [
        ("grpc.max_allowed_incoming_connections", connection_cap(config, fd_limit)),
        ("grpc.server_handshake_timeout_ms", int(config.handshake_timeout_s * 1000)),
        ("grpc.max_connection_idle_ms", int(config.idle_timeout_s * 1000)),
        ("grpc.max_concurrent_streams", config.max_streams_per_connection),
        ("grpc.keepalive_time_ms", KEEPALIVE_TIME_MS),
        ("grpc.keepalive_timeout_ms", KEEPALIVE_TIMEOUT_MS),
    ]


class BoundedHealthServicer(health_aio.HealthServicer):
    """The standard health service with at most `max_watches` Watch streams at once.

    Health needs no token (probes must work without one), so without a cap anyone who can
    connect could hold Watch streams, and their memory, forever. Past the cap Watch is
    refused with RESOURCE_EXHAUSTED; Check always answers.
    """

    def __init__(self, max_watches: int) -> None:
        super().__init__()
        self.max_watches = max_watches
        self.watching = 0

    async def Watch(self, request: health_pb2.HealthCheckRequest,  # noqa: N802
                    context: grpc.aio.ServicerContext) -> None:
        if self.watching >= self.max_watches:
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"too many health Watch streams ({self.max_watches}); use Check, or retry later")
        self.watching += 1
        try:
            await super().Watch(request, context)
        finally:
            self.watching -= 1
