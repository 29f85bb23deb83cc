"""Client channels to sanctum: one place for TLS, bearer tokens and keepalive options.

Every client (trainer sender, TUI, scripts) builds its channel here so they agree with
the server's keepalive policy and never leak raw transport errors to users.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc

#: Client keepalive: ping every 20 s when idle. Sanctum permits pings every >= 10 s
#: (`grpc.http2.min_ping_interval_without_data_ms`), so clients never get too_many_pings.
KEEPALIVE_OPTIONS: list[tuple[str, int]] = [
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
]
#: For subscribers: no BDP probing and a small lookahead, so a stalled reader holds a few
#: snapshots in flight instead of hundreds (see DESIGN.md, "stalled subscriber").
SUBSCRIBER_OPTIONS: list[tuple[str, int]] = [
    ("grpc.http2.bdp_probe", 0),
    ("grpc.http2.lookahead_bytes", 16 * 1024),
]
MAX_MESSAGE_BYTES = 4 * 1024 * 1024


class SanctumError(Exception):
    """An RPC to sanctum failed; carries the gRPC status code and the server's detail."""

    def __init__(self, code: grpc.StatusCode, detail: str) -> None:
        super().__init__(f"{code.name}: {detail}")
        self.code = code
        self.detail = detail

    @classmethod
    def from_rpc_error(cls, err: grpc.RpcError) -> SanctumError:
        code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
        detail = err.details() if hasattr(err, "details") else str(err)
        return cls(code or grpc.StatusCode.UNKNOWN, detail or "")


@dataclass(frozen=True)
class ChannelConfig:
    """Where sanctum is and how to authenticate to it."""

    target: str
    token: str | None = None
    tls_ca: Path | None = None
    subscriber: bool = False

    def options(self) -> list[tuple[str, int]]:
        opts = [
            *KEEPALIVE_OPTIONS,
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ]
        if self.subscriber:
            opts += SUBSCRIBER_OPTIONS
        return opts

    def metadata(self) -> tuple[tuple[str, str], ...]:
        """Call metadata carrying the bearer token, if any (without surrounding whitespace, as
        sanctum compares it: a token read from a file often ends in a newline)."""
        token = (self.token or "").strip()
        return (("authorization", f"Bearer {token}"),) if token else ()

    def credentials(self) -> grpc.ChannelCredentials | None:
        if self.tls_ca is None:
            return None
        return grpc.ssl_channel_credentials(root_certificates=Path(self.tls_ca).read_bytes())


def aio_channel(cfg: ChannelConfig) -> grpc.aio.Channel:
    """An asyncio channel (TUI, async clients)."""
    creds = cfg.credentials()
    if creds is None:
        return grpc.aio.insecure_channel(cfg.target, options=cfg.options())
    return grpc.aio.secure_channel(cfg.target, creds, options=cfg.options())


def sync_channel(cfg: ChannelConfig) -> grpc.Channel:
    """A blocking channel (trainer's background sender thread, scripts)."""
    creds = cfg.credentials()
    if creds is None:
        return grpc.insecure_channel(cfg.target, options=cfg.options())
    return grpc.secure_channel(cfg.target, creds, options=cfg.options())
