"""`esper-sanctum`: run the aggregation service, or load an event file into one.

    esper-sanctum serve --listen 127.0.0.1:50051 --store ~/.local/share/esper/sanctum.sqlite
    esper-sanctum ingest run.events --server 127.0.0.1:50051
    esper-sanctum store check ~/.local/share/esper/sanctum.sqlite
    esper-sanctum import telemetry.jsonl.gz --server 127.0.0.1:50051
    esper-sanctum export RUN --format parquet --out exports/RUN

`serve` is the default when no subcommand is given. User errors print one clear line and
exit with status 2; there are no tracebacks for them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.sanctum.v2 import sanctum_pb2_grpc
from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_common import logs, settings
from esper_common.channel import ChannelConfig, SanctumError, sync_channel
from esper_common.diagnose import describe
from esper_common.eventfile import EventFileError, Truncated, read_batches, read_version
from sanctum_svc import cli_export
from sanctum_svc.config import (
    DEFAULT_HZ,
    FULL_SNAPSHOT_EVERY_S,
    HZ_CAP,
    MAX_EVENTS_PER_BATCH,
    ConfigError,
    ServerConfig,
)
from sanctum_svc.import_cli import add_import_parser, run_import
from sanctum_svc.server import SanctumServer, StartupError, serve
from sanctum_svc.store_check import check_store
from sanctum_svc.tls import start_warnings

LISTEN_LINE = "esper-sanctum listening on"
LISTEN_EVENT = "listening"
COMMANDS = ("serve", "ingest", "store", "import", "export")


def listening_address(line: str) -> str | None:
    """The address in serve's listening line, text or JSON (`--log-format json`), else None:
    what a supervisor watching sanctum's output waits for."""
    if line.startswith(LISTEN_LINE):
        return line[len(LISTEN_LINE):].split()[0]
    try:
        record = json.loads(line) if line.startswith("{") else None
    except ValueError:
        return None
    if isinstance(record, dict) and record.get("event") == LISTEN_EVENT:
        return str(record.get("address") or "") or None
    return None


def default_store() -> Path:
    """$XDG_DATA_HOME/esper/sanctum.sqlite (~/.local/share/esper/sanctum.sqlite)."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "esper" / "sanctum.sqlite"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="esper-sanctum",
        description="Esper Sanctum: aggregates live telemetry of morphogenetic RL runs, "
                    "persists it and streams snapshots to dashboards over gRPC. "
                    "`serve` is the default command.")
    sub = parser.add_subparsers(dest="command", metavar="{serve,ingest,store,import,export}")

    s = sub.add_parser("serve", help="run the service (default)",
                       description="Run the sanctum gRPC service until SIGTERM/SIGINT.")
    s.add_argument("--listen", default="127.0.0.1:50051", metavar="HOST:PORT",
                   help="address to listen on (default 127.0.0.1:50051; a non-loopback "
                        "address needs --token or --insecure-listen-all)")
    s.add_argument("--store", default=None, metavar="PATH",
                   help="SQLite event store, a file (created if missing); ':memory:' "
                        f"keeps nothing (default {default_store()})")
    s.add_argument("--token", help="bearer token required on every RPC except health")
    s.add_argument("--read-token",
                   help="extra token that may only read (snapshots, runs, cursors), not "
                        "ingest")
    s.add_argument("--tls-cert", type=Path, metavar="FILE", help="TLS certificate (PEM)")
    s.add_argument("--tls-key", type=Path, metavar="FILE", help="TLS private key (PEM)")
    s.add_argument("--tls-client-ca", type=Path, metavar="FILE",
                   help="require client certificates signed by this CA (mTLS)")
    s.add_argument("--insecure-listen-all", action="store_true",
                   help="allow a non-loopback --listen without a token (trusted networks)")
    s.add_argument("--max-hz", type=float, default=HZ_CAP, metavar="N",
                   help=f"cap on snapshots/s per subscriber (default {HZ_CAP:g}, at most "
                        f"{HZ_CAP:g}; clients asking 0 get {DEFAULT_HZ:g})")
    s.add_argument("--stall-timeout", type=float, default=60.0, metavar="S",
                   help="disconnect a subscriber that has not read for S seconds "
                        "(default 60)")
    s.add_argument("--full-snapshot-every", type=float, default=FULL_SNAPSHOT_EVERY_S,
                   metavar="S",
                   help="send a subscriber that asked for deltas a full snapshot again once "
                        "its last one is S seconds old, bounding how long a client that "
                        f"misapplied a delta stays wrong (default {FULL_SNAPSHOT_EVERY_S:g}; "
                        "0: only the first)")
    s.add_argument("--metrics-port", type=int, metavar="P",
                   help="serve Prometheus metrics (no auth) on http://METRICS_HOST:P/metrics")
    s.add_argument("--metrics-host", default="127.0.0.1", metavar="ADDR",
                   help="address of the metrics endpoint (default 127.0.0.1: only this "
                        "machine; 0.0.0.0 exposes it, unauthenticated, to the network)")
    s.add_argument("--alert-webhook", metavar="URL",
                   help="POST each health finding as JSON when it rises and when it clears "
                        "(from a bounded queue: a slow webhook never slows ingest)")
    s.add_argument("--address-file", type=Path, metavar="FILE",
                   help="once serving, write the bound HOST:PORT to FILE (for supervisors "
                        "that bind port 0, like `esper up`)")
    s.add_argument("--checkpoint-every", type=int, default=100_000, metavar="N",
                   help="write an aggregator checkpoint into the store every N events, so a "
                        "restart replays only what follows it (default 100000; 0: off)")
    s.add_argument("--checkpoint-interval", type=float, default=600.0, metavar="S",
                   help="also checkpoint every S seconds when events arrived (default 600; "
                        "0: off)")
    s.add_argument("--checkpoint-keep", type=int, default=2, metavar="K",
                   help="checkpoints kept in the store, newest first (default 2)")
    s.add_argument("--replay-all", action="store_true",
                   help="ignore checkpoints on start: rebuild everything from the stored "
                        "events, reading and verifying every one (slow on a big store)")
    s.add_argument("--retain-days", type=float, metavar="D",
                   help="delete finished runs (completed, stopped, failed) whose last event "
                        "is older than D days, at start and hourly (default: keep)")
    s.add_argument("--retain-runs", type=int, metavar="N",
                   help="keep only the newest N finished runs (live runs are never "
                        "deleted; default: keep all)")
    s.add_argument("--cluster", metavar="NATS_URLS",
                   help="cluster mode: follow the replicated log on these NATS JetStream "
                        "servers (nats://a:4222,b:4222,c:4222) instead of a --store; any "
                        "replica accepts Ingest and serves every run (README, \"Cluster "
                        "mode\"; needs the `cluster` extra)")
    s.add_argument("--cluster-replicas", type=int, default=3, metavar="N",
                   help="copies JetStream keeps of every batch (default 3: one NATS "
                        "server may fail; 1 for a single NATS server)")
    s.add_argument("--cluster-checkpoint-every", type=int, default=10_000, metavar="N",
                   help="write an aggregator checkpoint to the cluster every N batches "
                        "(default 10000): a starting replica restores the newest one and "
                        "applies only the batches after it")
    s.add_argument("-v", "--verbose", action="store_true", help="same as --log-level info")
    logs.add_flags(s)

    i = sub.add_parser("ingest", help="stream an event file into a running sanctum",
                       description="Stream an event file (written by esper-trainer without "
                                   "--sanctum) through Ingest. Safe to repeat: events already "
                                   "stored are ignored by their sequence numbers.")
    i.add_argument("file", type=Path, help="event file (esper_common.eventfile format)")
    i.add_argument("--server", default="127.0.0.1:50051", metavar="HOST:PORT",
                   help="sanctum address (default 127.0.0.1:50051)")
    i.add_argument("--token", help="bearer token")
    i.add_argument("--tls-ca", type=Path, metavar="FILE",
                   help="CA certificate to verify a TLS sanctum")
    logs.add_flags(i)
    st = sub.add_parser("store", help="inspect an event store",
                        description="Inspect an event store without changing it.")
    st_sub = st.add_subparsers(dest="store_command", metavar="{check}", required=True)
    chk = st_sub.add_parser(
        "check", help="verify a store: SQLite integrity, format, every row's checksum",
        description="Verify a store without changing it: SQLite's integrity check, the "
                    "format version, every row's checksum, every batch parses. Exit status "
                    "0 when nothing is damaged, 1 otherwise. Safe while a server runs.")
    chk.add_argument("path", help="the store file (what serve --store was given)")
    add_import_parser(sub)
    cli_export.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help")):
        argv.insert(0, "serve")
    args = settings.parse_args(build_parser(), argv, "sanctum")
    if args.command == "ingest":
        return run_ingest(args)
    if args.command == "import":
        return run_import(args)
    if args.command == "export":
        return cli_export.run_export(args)
    if args.command == "store":
        report = check_store(args.path)
        print(report.text())
        return 0 if report.ok else 1
    return run_serve(args)


def _fail(message: str) -> int:
    logs.status("error", f"esper-sanctum: error: {message}", level="error")
    return 2


def _warn(message: str) -> None:
    logs.status("warning", f"esper-sanctum: warning: {message}", level="warning")


def _stripped(token: str | None, flag: str) -> str | None:
    """The token without surrounding whitespace. A newline read from a file with the token
    would otherwise lock out every client (they send it without); say so, then go on."""
    if not token:
        return None
    if token != token.strip() and token.strip():
        _warn(f"{flag} (or its environment variable) has whitespace around it (a newline "
              "from a file?); it was removed, so clients must send the token without it")
    return token.strip()


def _cluster_servers(spec: str, store: str | None, replicas: int) -> tuple[str, ...]:
    """--cluster's NATS URLs; ValueError with the user's fix when the flags cannot work."""
    try:
        from sanctum_svc.cluster.log import parse_servers
    except ImportError:
        raise ValueError("--cluster needs the NATS client: pip install 'esper-sanctum[cluster]'"
                         ) from None
    if store not in (None, ":memory:"):
        raise ValueError("--cluster and --store exclude each other: in cluster mode the "
                         "replicated log on the NATS servers is the store")
    if not 1 <= replicas <= 5:
        raise ValueError(f"--cluster-replicas must be 1..5 (JetStream's limit), got {replicas}")
    return parse_servers(spec)


def run_serve(args: argparse.Namespace) -> int:
    level = "info" if args.verbose and args.log_level == "warning" else args.log_level
    logs.configure(level, args.log_format, service="sanctum")
    store = args.store
    cluster: tuple[str, ...] = ()
    if args.cluster is not None:
        try:
            cluster = _cluster_servers(args.cluster, store, args.cluster_replicas)
        except ValueError as exc:
            return _fail(str(exc))
        store = ":memory:"
    if store is not None and not store.strip():
        return _fail("--store is empty: give a file path for the event store, or ':memory:' "
                     "to keep nothing across restarts")
    if store is None:
        path = default_store()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return _fail(f"cannot create {path.parent}: {exc}; pass --store PATH")
        store = str(path)
    config = ServerConfig(
        listen=args.listen, store=store, token=_stripped(args.token, "--token"),
        read_token=_stripped(args.read_token, "--read-token"), tls_cert=args.tls_cert,
        tls_key=args.tls_key, tls_client_ca=args.tls_client_ca,
        insecure_listen_all=args.insecure_listen_all, max_hz=args.max_hz,
        stall_timeout=args.stall_timeout, full_snapshot_every_s=args.full_snapshot_every,
        metrics_port=args.metrics_port,
        metrics_host=args.metrics_host, alert_webhook=args.alert_webhook,
        checkpoint_every_events=args.checkpoint_every,
        checkpoint_every_s=args.checkpoint_interval, checkpoint_keep=args.checkpoint_keep,
        retain_days=args.retain_days, retain_runs=args.retain_runs,
        replay_all=args.replay_all, cluster=cluster,
        cluster_replicas=args.cluster_replicas,
        cluster_checkpoint_every=max(1, args.cluster_checkpoint_every))
    try:
        config.check()
    except ConfigError as exc:
        return _fail(str(exc))
    for warning in start_warnings(config):
        _warn(warning)

    def ready(server: SanctumServer) -> None:
        restored = server.pipeline.restored_events if server.pipeline else None
        if server.cluster is not None:
            logs.status("cluster_caught_up",
                        f"esper-sanctum: following the cluster log at {','.join(cluster)}: "
                        f"checkpoint at message {server.cluster.restored_from}, caught up to "
                        f"message {server.replayed}", cluster=list(cluster),
                        checkpoint_message=server.cluster.restored_from,
                        caught_up_message=server.replayed)
        elif restored:
            logs.status("restored", f"esper-sanctum: restored a checkpoint of {restored} "
                        f"events from {store}", events=restored, store=store)
        if server.cluster is None and server.replayed:
            logs.status("replayed", f"esper-sanctum: replayed {server.replayed} events from "
                        f"{store}", events=server.replayed, store=store)
        if server.store.corrupt:
            n = sum(server.store.corrupt.values())
            logs.status("damaged_rows",
                        f"esper-sanctum: warning: {n} damaged row(s) in {store} were skipped "
                        "(checksum mismatch; their data is not served). Run `esper-sanctum "
                        f"store check {store}` for details.", level="warning", rows=n,
                        store=store)
        if server.metrics_port is not None:
            url = f"http://{config.metrics_host}:{server.metrics_port}/metrics"
            logs.status("metrics", f"esper-sanctum: metrics on {url}", url=url)
        where = f"cluster: {','.join(cluster)}" if cluster else f"store: {store}"
        logs.status(LISTEN_EVENT, f"{LISTEN_LINE} {server.address} ({where})",
                    stream=sys.stdout, address=server.address,
                    store=None if cluster else store, cluster=list(cluster) or None)

    def bound(server: SanctumServer) -> None:
        if args.address_file is not None:
            try:
                write_address(args.address_file, server.address)
            except OSError as exc:
                _warn(f"--address-file {args.address_file}: {exc}")

    try:
        asyncio.run(serve(config, ready, bound))
    except StartupError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return 130
    return 0


def write_address(path: Path, address: str) -> None:
    """HOST:PORT into `path`, atomically (a reader never sees half of it)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(address + "\n")
    tmp.replace(path)


class _FileReport:
    """What reading the event file met: an incomplete last record, or damage mid-file."""

    def __init__(self) -> None:
        self.truncated: Truncated | None = None
        self.error: Exception | None = None


def _requests(path: Path, progress: list[int], report: _FileReport
              ) -> Iterator[spb.IngestRequest]:
    """Batches from the file, split where a record exceeds the server's batch limit. A
    damaged record ends the stream (what came before it is loaded) and goes to `report`."""
    started = time.monotonic()
    last_report = 0.0

    def truncated(tail: Truncated) -> None:
        report.truncated = tail

    try:
        for batch in read_batches(path, on_truncated=truncated):
            events = list(batch.events)
            for start in range(0, max(len(events), 1), MAX_EVENTS_PER_BATCH):
                req = spb.IngestRequest(batch=tpb.EventBatch(
                    events=events[start:start + MAX_EVENTS_PER_BATCH]))
                if start + MAX_EVENTS_PER_BATCH >= len(events):
                    req.batch.drops.extend(batch.drops)
                progress[0] += len(req.batch.events)
                yield req
            now = time.monotonic()
            if sys.stderr.isatty() and not logs.is_json() and now - last_report > 0.5:
                last_report = now
                rate = progress[0] / max(now - started, 1e-9)
                print(f"\ringest: {progress[0]} events sent ({rate:,.0f}/s)", end="",
                      file=sys.stderr, flush=True)
    except (EventFileError, OSError) as exc:
        report.error = exc


def run_ingest(args: argparse.Namespace) -> int:
    logs.configure(args.log_level, args.log_format, service="sanctum")
    if not args.file.is_file():
        return _fail(f"no such event file: {args.file}")
    try:
        with open(args.file, "rb") as fh:
            read_version(fh, str(args.file))  # a foreign or newer file: refused at once
    except (EventFileError, OSError) as exc:
        return _fail(str(exc))
    cfg = ChannelConfig(args.server, token=args.token or None, tls_ca=args.tls_ca)
    progress = [0]
    report = _FileReport()
    try:
        with sync_channel(cfg) as channel:
            stub = sanctum_pb2_grpc.SanctumServiceStub(channel)
            reply = stub.Ingest(_requests(args.file, progress, report),
                                metadata=cfg.metadata(), wait_for_ready=False)
    except grpc.RpcError as err:
        error = SanctumError.from_rpc_error(err)
        if not logs.is_json():
            print(file=sys.stderr)
        return _fail(f"ingest into {args.server} failed after {progress[0]} events: "
                     f"{describe(error, cfg)}")
    except OSError as exc:
        return _fail(f"cannot read {args.file}: {exc}")
    if sys.stderr.isatty() and not logs.is_json():
        print(file=sys.stderr)  # end the progress line
    lines = [f"ingest: {reply.events_received} events in {reply.batches} batches: "
             f"{reply.events_applied} applied, {reply.events_duplicate} already stored"]
    lines += [f"  {c.run_id}/{c.producer_id}: last seq {c.last_seq}" for c in reply.cursors]
    logs.status("ingested", "\n".join(lines), events=reply.events_received,
                batches=reply.batches, applied=reply.events_applied,
                duplicates=reply.events_duplicate,
                cursors=[{"run_id": c.run_id, "producer_id": c.producer_id,
                          "last_seq": c.last_seq} for c in reply.cursors])
    if report.truncated is not None:
        _warn(str(report.truncated))
    if report.error is not None:
        return _fail(f"{report.error}; the {reply.events_received} events before it were "
                     "loaded")
    return 0


if __name__ == "__main__":
    sys.exit(main())
