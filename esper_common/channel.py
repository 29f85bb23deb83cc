"""Client channels to sanctum: one place for TLS, bearer tokens, keepalive options and
fail-over between replicas.

Every client (trainer sender, TUI, scripts) builds its channel here so they agree with
the server's keepalive policy and never leak raw transport errors to users. A target may
name several sanctum replicas, `a:50051,b:50051` (cluster mode): a channel goes to one of
them, and `Failover` moves a client to the next after a transport failure. One DNS name
with several records needs nothing of this: gRPC's resolver already tries each address.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
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


def split_targets(target: str) -> list[str]:
    """'a:50051, b:50051' -> ['a:50051', 'b:50051']; ValueError when no address is left."""
    out = [t.strip() for t in target.split(",") if t.strip()]
    if not out:
        raise ValueError(f"no sanctum address in {target!r} (want HOST:PORT[,HOST:PORT...])")
    return out


@dataclass(frozen=True)
class ChannelConfig:
    """Where sanctum is and how to authenticate to it."""

    target: str
    token: str | None = None
    tls_ca: Path | None = None
    subscriber: bool = False

    @property
    def targets(self) -> list[str]:
        """Every replica address this config names (one unless it lists several)."""
        return split_targets(self.target)

    def at(self, index: int) -> ChannelConfig:
        """This config pointed at its `index`-th address only (modulo their number)."""
        targets = self.targets
        return replace(self, target=targets[index % len(targets)])

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


class Failover:
    """Which replica a client talks to: `current`, then `failed()` after a transport error.

    Clients resume from the server's cursor (producers) or its next snapshot (viewers), so
    moving to another replica loses nothing. `failed()` returns True once every address was
    tried since the last success: the caller backs off then, not between replicas.
    """

    def __init__(self, config: ChannelConfig) -> None:
        self.config = config
        self.size = len(config.targets)
        self.index = 0
        self._tried = 0

    @property
    def current(self) -> ChannelConfig:
        return self.config.at(self.index)

    def failed(self) -> bool:
        """Move to the next address; True when a whole round has failed."""
        self.index = (self.index + 1) % self.size
        self._tried += 1
        if self._tried >= self.size:
            self._tried = 0
            return True
        return False

    def succeeded(self) -> None:
        self._tried = 0


def aio_channel(cfg: ChannelConfig) -> grpc.aio.Channel:
    """An asyncio channel (TUI, async clients) to the first address of `cfg`."""
    target = cfg.targets[0]
    creds = cfg.credentials()
    if creds is None:
        return grpc.aio.insecure_channel(target, options=cfg.options())
    return grpc.aio.secure_channel(target, creds, options=cfg.options())


def sync_channel(cfg: ChannelConfig) -> grpc.Channel:
    """A blocking channel (trainer's background sender thread, scripts) to the first
    address of `cfg`."""
    target = cfg.targets[0]
    creds = cfg.credentials()
    if creds is None:
        return grpc.insecure_channel(target, options=cfg.options())
    return grpc.secure_channel(target, creds, options=cfg.options())
