"""`esper-sanctum`: run the aggregation service, or load an event file into one.

    esper-sanctum serve --listen 127.0.0.1:50051 --store ~/.local/share/esper/sanctum.sqlite
    esper-sanctum ingest run.events --server 127.0.0.1:50051
    esper-sanctum store check ~/.local/share/esper/sanctum.sqlite
    esper-sanctum import telemetry.jsonl.gz --server 127.0.0.1:50051

`serve` is the default when no subcommand is given. User errors print one clear line and
exit with status 2; there are no tracebacks for them.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc

from esper.sanctum.v1 import sanctum_pb2 as spb
from esper.sanctum.v1 import sanctum_pb2_grpc
from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_common.channel import ChannelConfig, SanctumError, sync_channel
from esper_common.diagnose import describe
from esper_common.eventfile import EventFileError, read_batches
from sanctum_svc.config import DEFAULT_HZ, HZ_CAP, MAX_EVENTS_PER_BATCH, ConfigError, ServerConfig
from sanctum_svc.import_cli import add_import_parser, run_import
from sanctum_svc.server import SanctumServer, StartupError, serve
from sanctum_svc.store_check import check_store
from sanctum_svc.tls import start_warnings

LISTEN_LINE = "esper-sanctum listening on"
COMMANDS = ("serve", "ingest", "store", "import")


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
    sub = parser.add_subparsers(dest="command", metavar="{serve,ingest,store,import}")

    s = sub.add_parser("serve", help="run the service (default)",
                       description="Run the sanctum gRPC service until SIGTERM/SIGINT.")
    s.add_argument("--listen", default="127.0.0.1:50051", metavar="HOST:PORT",
                   help="address to listen on (default 127.0.0.1:50051; a non-loopback "
                        "address needs --token or --insecure-listen-all)")
    s.add_argument("--store", default=None, metavar="PATH",
                   help="SQLite event store, a file (created if missing); ':memory:' "
                        f"keeps nothing (default {default_store()})")
    s.add_argument("--token", default=os.environ.get("ESPER_TOKEN"),
                   help="bearer token required on every RPC except health "
                        "(default: $ESPER_TOKEN)")
    s.add_argument("--read-token", default=os.environ.get("ESPER_READ_TOKEN"),
                   help="extra token that may only read (snapshots, runs, cursors), not "
                        "ingest (default: $ESPER_READ_TOKEN)")
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
    s.add_argument("--metrics-port", type=int, metavar="P",
                   help="serve Prometheus metrics (no auth) on http://METRICS_HOST:P/metrics")
    s.add_argument("--metrics-host", default="127.0.0.1", metavar="ADDR",
                   help="address of the metrics endpoint (default 127.0.0.1: only this "
                        "machine; 0.0.0.0 exposes it, unauthenticated, to the network)")
    s.add_argument("-v", "--verbose", action="store_true", help="log more")

    i = sub.add_parser("ingest", help="stream an event file into a running sanctum",
                       description="Stream an event file (written by esper-trainer without "
                                   "--sanctum) through Ingest. Safe to repeat: events already "
                                   "stored are ignored by their sequence numbers.")
    i.add_argument("file", type=Path, help="event file (esper_common.eventfile format)")
    i.add_argument("--server", default="127.0.0.1:50051", metavar="HOST:PORT",
                   help="sanctum address (default 127.0.0.1:50051)")
    i.add_argument("--token", default=os.environ.get("ESPER_TOKEN"),
                   help="bearer token (default: $ESPER_TOKEN)")
    i.add_argument("--tls-ca", type=Path, metavar="FILE",
                   help="CA certificate to verify a TLS sanctum")
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
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help")):
        argv.insert(0, "serve")
    args = build_parser().parse_args(argv)
    if args.command == "ingest":
        return run_ingest(args)
    if args.command == "import":
        return run_import(args)
    if args.command == "store":
        report = check_store(args.path)
        print(report.text())
        return 0 if report.ok else 1
    return run_serve(args)


def _fail(message: str) -> int:
    print(f"esper-sanctum: error: {message}", file=sys.stderr, flush=True)
    return 2


def _warn(message: str) -> None:
    print(f"esper-sanctum: warning: {message}", file=sys.stderr, flush=True)


def _stripped(token: str | None, flag: str) -> str | None:
    """The token without surrounding whitespace. A newline read from a file with the token
    would otherwise lock out every client (they send it without); say so, then go on."""
    if not token:
        return None
    if token != token.strip() and token.strip():
        _warn(f"{flag} (or its environment variable) has whitespace around it (a newline "
              "from a file?); it was removed, so clients must send the token without it")
    return token.strip()


def run_serve(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    store = args.store
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
        stall_timeout=args.stall_timeout, metrics_port=args.metrics_port,
        metrics_host=args.metrics_host)
    try:
        config.check()
    except ConfigError as exc:
        return _fail(str(exc))
    for warning in start_warnings(config):
        _warn(warning)

    def ready(server: SanctumServer) -> None:
        if server.replayed:
            print(f"esper-sanctum: replayed {server.replayed} events from {store}",
                  file=sys.stderr)
        if server.store.corrupt:
            n = sum(server.store.corrupt.values())
            print(f"esper-sanctum: warning: {n} damaged row(s) in {store} were skipped "
                  "(checksum mismatch; their data is not served). Run `esper-sanctum store "
                  f"check {store}` for details.", file=sys.stderr)
        if server.metrics_port is not None:
            print(f"esper-sanctum: metrics on http://{config.metrics_host}:{server.metrics_port}"
                  "/metrics", file=sys.stderr)
        print(f"{LISTEN_LINE} {server.address} (store: {store})", flush=True)

    try:
        asyncio.run(serve(config, ready))
    except StartupError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return 130
    return 0


def _requests(path: Path, progress: list[int]) -> Iterator[spb.IngestRequest]:
    """Batches from the file, split where a record exceeds the server's batch limit."""
    started = time.monotonic()
    last_report = 0.0
    for batch in read_batches(path):
        events = list(batch.events)
        for start in range(0, max(len(events), 1), MAX_EVENTS_PER_BATCH):
            req = spb.IngestRequest(batch=tpb.EventBatch(
                events=events[start:start + MAX_EVENTS_PER_BATCH]))
            if start + MAX_EVENTS_PER_BATCH >= len(events):
                req.batch.drops.extend(batch.drops)
            progress[0] += len(req.batch.events)
            yield req
        now = time.monotonic()
        if sys.stderr.isatty() and now - last_report > 0.5:
            last_report = now
            rate = progress[0] / max(now - started, 1e-9)
            print(f"\ringest: {progress[0]} events sent ({rate:,.0f}/s)", end="",
                  file=sys.stderr, flush=True)


def run_ingest(args: argparse.Namespace) -> int:
    if not args.file.is_file():
        return _fail(f"no such event file: {args.file}")
    cfg = ChannelConfig(args.server, token=args.token or None, tls_ca=args.tls_ca)
    progress = [0]
    try:
        with sync_channel(cfg) as channel:
            stub = sanctum_pb2_grpc.SanctumServiceStub(channel)
            reply = stub.Ingest(_requests(args.file, progress), metadata=cfg.metadata(),
                                wait_for_ready=False)
    except EventFileError as exc:
        return _fail(str(exc))
    except grpc.RpcError as err:
        exc = SanctumError.from_rpc_error(err)
        print(file=sys.stderr)
        return _fail(f"ingest into {args.server} failed after {progress[0]} events: "
                     f"{describe(exc, cfg)}")
    except OSError as exc:
        return _fail(f"cannot read {args.file}: {exc}")
    if sys.stderr.isatty():
        print(file=sys.stderr)  # end the progress line
    print(f"ingest: {reply.events_received} events in {reply.batches} batches: "
          f"{reply.events_applied} applied, {reply.events_duplicate} already stored",
          file=sys.stderr)
    for c in reply.cursors:
        print(f"  {c.run_id}/{c.producer_id}: last seq {c.last_seq}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
