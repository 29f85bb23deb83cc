"""`esper-sanctum export RUN --format parquet|csv|tensorboard --out DIR` (sanctum_svc.export)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import grpc

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.sanctum.v2 import sanctum_pb2_grpc
from esper_common import logs
from esper_common.channel import ChannelConfig, SanctumError, sync_channel
from esper_common.diagnose import describe
from sanctum_svc.export import FORMATS, ExportError, ExportReport, write_export


def add_parser(sub: argparse._SubParsersAction) -> None:
    e = sub.add_parser(
        "export", help="write a run's series and config to parquet, csv or TensorBoard",
        description="Export every series of a run at full resolution (every PPO scalar, "
                    "per head, batch and per-env accuracy and reward) and its config from a "
                    "running sanctum (the Export RPC), into DIR: run.json plus "
                    "series.parquet, series.csv or a TensorBoard event file "
                    "(tensorboard --logdir DIR).")
    e.add_argument("run", help="the run id (esper-tui's run picker or ListRuns lists them)")
    # Keyed export_format in config files / ESPER_EXPORT_FORMAT: `import --format` takes
    # other values, and a shared ESPER_FORMAT would break one of them.
    e.add_argument("--export-format", "--format", dest="format", choices=FORMATS,
                   default="parquet",
                   help="parquet (typed columns; default), csv, or tensorboard")
    e.add_argument("--out", type=Path, metavar="DIR",
                   help="directory to write into, created if missing (required)")
    e.add_argument("--server", default="127.0.0.1:50051", metavar="HOST:PORT",
                   help="sanctum address (default 127.0.0.1:50051)")
    e.add_argument("--token", help="bearer token (the read token is enough)")
    e.add_argument("--tls-ca", type=Path, metavar="FILE",
                   help="CA certificate to verify a TLS sanctum")
    logs.add_flags(e)


def _progress(report: ExportReport) -> None:
    if sys.stderr.isatty() and not logs.is_json():
        print(f"\rexport: {report.series} series, {report.points:,} points", end="",
              file=sys.stderr, flush=True)


def _fail(message: str) -> int:
    logs.status("error", f"esper-sanctum: error: {message}", level="error")
    return 2


def run_export(args: argparse.Namespace) -> int:
    logs.configure(args.log_level, args.log_format, service="sanctum")
    if args.out is None:
        return _fail("export needs --out DIR (the directory to write into)")
    cfg = ChannelConfig(args.server, token=args.token or None, tls_ca=args.tls_ca)
    try:
        with sync_channel(cfg) as channel:
            stub = sanctum_pb2_grpc.SanctumServiceStub(channel)
            stream = stub.Export(spb.ExportRequest(run_id=args.run), metadata=cfg.metadata(),
                                 wait_for_ready=False)
            report = write_export(stream, args.format, args.out, _progress)
    except grpc.RpcError as err:
        error = SanctumError.from_rpc_error(err)
        return _fail(f"export of {args.run!r} from {args.server} failed: "
                     f"{describe(error, cfg)}")
    except ExportError as exc:
        return _fail(str(exc))
    if sys.stderr.isatty() and not logs.is_json():
        print(file=sys.stderr)
    logs.status("exported", f"exported {args.run}: {report.series} series, "
                f"{report.points:,} points to " + ", ".join(str(f) for f in report.files),
                run_id=args.run, series=report.series, points=report.points,
                files=[str(f) for f in report.files])
    return 0
