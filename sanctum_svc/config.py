"""Server configuration: one dataclass that the CLI fills and tests override."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from esper.telemetry.v1 import telemetry_pb2 as tpb
from sanctum_svc.rules import max_bytes, max_items
from sanctum_svc.tls import TlsFileError, check_tls_files

#: Snapshots/s a subscriber gets when it asks for 0 (server default).
DEFAULT_HZ = 10.0
#: Hard upper bound on --max-hz.
HZ_CAP = 30.0
#: Default of --full-snapshot-every: a full 12-env snapshot (about 27 KB) every 30 s adds
#: about 90 bytes to each update of a 10 Hz incremental stream.
FULL_SNAPSHOT_EVERY_S = 30.0
#: Per-field rules (lengths, ranges, finiteness, counts) are declared in the .proto files as
#: buf.validate options; these three are read from there (sanctum_svc.rules), not kept here.
MAX_EVENTS_PER_BATCH = max_items(tpb.EventBatch, "events")
MAX_STRING_BYTES = max_bytes(tpb.AnomalyPayload, "detail")
MAX_REPEATED = max_items(tpb.EventBatch, "drops")
#: gRPC receive limit; larger messages get RESOURCE_EXHAUSTED from gRPC itself.
MAX_RECEIVE_BYTES = 4 * 1024 * 1024
#: Clients ping every 20 s (esper_common.channel); allow pings every 10 s.
MIN_PING_INTERVAL_MS = 10_000
#: Largest snapshot sanctum sends (a serialized SanctumSnapshot): a quarter of the 4 MiB a
#: gRPC client accepts by default, and ~10x a 64-env run's. A run whose state is bigger gets
#: snapshots trimmed to fit, saying what was left out (SanctumSnapshot.trimmed).
SNAPSHOT_BUDGET_BYTES = 1024 * 1024
#: ListRuns: runs per page when the client asks 0, and the most it may ask for. A page also
#: ends early at SNAPSHOT_BUDGET_BYTES.
LIST_RUNS_DEFAULT_PAGE = 100
LIST_RUNS_MAX_PAGE = 1000
#: Group ids listed per RunSummary (RunSummary.group_count has the total).
SUMMARY_GROUP_IDS = 32
#: Connection limits (sanctum_svc/limits.py says what each defends against). Connections
#: at once (also kept under the fd limit); seconds to finish the TLS/HTTP2 handshake;
#: seconds without any RPC before a connection is closed (clients reconnect by themselves).
MAX_CONNECTIONS = 4096
HANDSHAKE_TIMEOUT_S = 10.0
IDLE_TIMEOUT_S = 300.0
#: Streams at once on one connection, WatchSnapshots subscribers in all, and health Watch
#: streams in all (health needs no token; Check is not limited).
MAX_STREAMS_PER_CONNECTION = 512
MAX_SUBSCRIBERS = 256
MAX_HEALTH_WATCHES = 64


@dataclass(frozen=True)
class Limits:
    """What one run, and the server, may create: caps checked when a batch is planned, so
    a batch that would pass one is refused whole (INVALID_ARGUMENT naming the field) and
    changes nothing. The README lists them; tests lower them."""

    #: Runs the server holds (each costs memory for as long as the server runs).
    max_runs: int = 1000
    #: Producers (distinct producer ids, from events or drop reports) per run.
    max_producers_per_run: int = 256
    #: Policy groups (distinct group ids) per run.
    max_groups_per_run: int = 8
    #: Envs per run: a declared n_envs may not exceed it, and env ids of a run that has
    #: not declared its shape (no TRAINING_STARTED yet) stay below it.
    max_envs: int = 256
    #: A producer's seq may move ahead of its last seq by at most this much in one step
    #: (the events in between count as gaps); a bigger jump is refused.
    max_seq_jump: int = 1 << 32
    #: Counters (delivery stats) stop here instead of wrapping.
    counter_max: int = (1 << 64) - 1


class ConfigError(ValueError):
    """A configuration a user gave cannot work; the message says why and what to do."""


@dataclass
class ServerConfig:
    """Everything `esper-sanctum serve` can be told. Defaults are safe for a laptop."""

    listen: str = "127.0.0.1:50051"
    store: str = ":memory:"
    #: Bearer token required on every RPC except health (full access).
    token: str | None = None
    #: Bearer token allowing only read RPCs (snapshots, runs, cursors).
    read_token: str | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    insecure_listen_all: bool = False
    #: Server cap on snapshots/s per subscriber.
    max_hz: float = HZ_CAP
    default_hz: float = DEFAULT_HZ
    #: A subscriber whose stream accepts nothing for this long is disconnected.
    stall_timeout: float = 60.0
    #: Heartbeat period when no snapshot was sent.
    heartbeat_s: float = 1.0
    #: An incremental subscriber gets a full snapshot instead of a delta once its last full
    #: one is this many seconds old, so a client that went wrong applying a delta is set
    #: right within this bound (0: only the first snapshot is full).
    full_snapshot_every_s: float = FULL_SNAPSHOT_EVERY_S
    metrics_port: int | None = None
    #: Address of the /metrics endpoint (no auth): loopback unless chosen otherwise.
    metrics_host: str = "127.0.0.1"
    #: POST health findings' rising and falling edges here as JSON (None: off).
    alert_webhook: str | None = None
    #: Seconds open calls get to finish on shutdown.
    grace_s: float = 5.0
    history_len: int = 120
    event_log_len: int = 200
    #: Snapshot size budget in bytes (see SNAPSHOT_BUDGET_BYTES).
    snapshot_budget: int = SNAPSHOT_BUDGET_BYTES
    max_connections: int = MAX_CONNECTIONS
    handshake_timeout_s: float = HANDSHAKE_TIMEOUT_S
    idle_timeout_s: float = IDLE_TIMEOUT_S
    max_streams_per_connection: int = MAX_STREAMS_PER_CONNECTION
    max_subscribers: int = MAX_SUBSCRIBERS
    max_health_watches: int = MAX_HEALTH_WATCHES
    limits: Limits = field(default_factory=Limits)
    #: Seconds a stream whose batch was refused waits for its INVALID_ARGUMENT: a client
    #: sending refused batch after batch is slowed to a trickle, the loop stays free for
    #: the others; a producer that sent one bad batch loses nothing.
    refusal_delay_s: float = 0.05
    #: NATS servers of the cluster (cluster mode: the replicated log replaces --store).
    cluster: tuple[str, ...] = ()
    #: JetStream copies of every accepted batch (cluster mode).
    cluster_replicas: int = 3
    #: An aggregator checkpoint in the cluster per this many stream messages.
    cluster_checkpoint_every: int = 10_000
    extra_options: list[tuple[str, int]] = field(default_factory=list)
    #: Aggregator checkpoints in the store (sanctum_svc.checkpointing): every N events or
    #: S seconds with new events (0 turns a trigger off), keeping the newest K.
    checkpoint_every_events: int = 100_000
    checkpoint_every_s: float = 600.0
    checkpoint_keep: int = 2
    #: Ignore checkpoints on start: rebuild everything from the stored events (slow; reads
    #: and verifies every stored batch).
    replay_all: bool = False
    #: Retention of finished runs (sanctum_svc.run_admin): delete those whose last event is
    #: older than this many days / all but the newest this many. None: keep.
    retain_days: float | None = None
    retain_runs: int | None = None

    @property
    def host(self) -> str:
        return split_host_port(self.listen)[0]

    @property
    def port(self) -> int:
        return split_host_port(self.listen)[1]

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    def check(self) -> None:
        """Raise ConfigError for combinations that cannot work or are unsafe."""
        split_host_port(self.listen)
        if not 0 < self.max_hz <= HZ_CAP:
            raise ConfigError(f"--max-hz must be in (0, {HZ_CAP:g}], got {self.max_hz:g}")
        if self.stall_timeout <= 0:
            raise ConfigError("--stall-timeout must be > 0 seconds")
        if not self.full_snapshot_every_s >= 0:  # NaN too
            raise ConfigError("--full-snapshot-every must be >= 0 seconds (0: off), got "
                              f"{self.full_snapshot_every_s:g}")
        if self.alert_webhook is not None and not self.alert_webhook.startswith(
                ("http://", "https://")):
            raise ConfigError(f"--alert-webhook must be an http:// or https:// URL, got "
                              f"{self.alert_webhook!r}")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("--tls-cert and --tls-key must be given together")
        if self.tls_client_ca is not None and self.tls_cert is None:
            raise ConfigError("--tls-client-ca (mTLS) needs --tls-cert and --tls-key")
        for label, path in (("--tls-cert", self.tls_cert), ("--tls-key", self.tls_key),
                            ("--tls-client-ca", self.tls_client_ca)):
            if path is not None and not Path(path).is_file():
                raise ConfigError(f"{label}: no such file: {path}")
        try:
            check_tls_files(self)
        except TlsFileError as exc:
            raise ConfigError(str(exc)) from None
        if not self.store:
            raise ConfigError("--store is empty: give a file path for the event store, or "
                              "':memory:' to keep nothing across restarts")
        if self.checkpoint_every_events < 0 or self.checkpoint_every_s < 0:
            raise ConfigError("--checkpoint-every and --checkpoint-interval must be >= 0 "
                              "(0 turns that trigger off)")
        if self.retain_days is not None and self.retain_days <= 0:
            raise ConfigError("--retain-days must be > 0 (omit it to keep runs forever)")
        if self.retain_runs is not None and self.retain_runs < 0:
            raise ConfigError("--retain-runs must be >= 0")
        if self.checkpoint_keep < 1:
            raise ConfigError("--checkpoint-keep must be >= 1")
        if self.read_token and not self.token:
            raise ConfigError("--read-token needs --token too (the token that may ingest)")
        if self.token is not None and not self.token.strip():
            raise ConfigError("--token is empty")
        if not self.token and not self.insecure_listen_all and not is_loopback(self.host):
            raise ConfigError(
                f"refusing to listen on {self.listen} without a token: anyone who can reach "
                "it could read and write telemetry. Give --token (or ESPER_TOKEN), listen "
                "on 127.0.0.1, or pass --insecure-listen-all if the network is trusted."
            )


def split_host_port(listen: str) -> tuple[str, int]:
    """'host:port' or '[v6]:port' -> (host, port); ConfigError when malformed."""
    host, sep, port_s = listen.rpartition(":")
    if not sep or not host:
        raise ConfigError(f"--listen wants HOST:PORT, got {listen!r}")
    host = host.strip("[]")
    try:
        port = int(port_s)
    except ValueError:
        raise ConfigError(f"--listen port must be a number, got {port_s!r}") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"--listen port out of range: {port}")
    return host, port


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
