"""The `esper-sanctum import` subcommand: its arguments and the run that prints the summary.

User errors print one line `esper-sanctum: error: ...` and exit with status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from esper_common.channel import ChannelConfig, sync_channel
from esper_common.diagnose import describe
from sanctum_svc.import_progress import ByteProgress
from sanctum_svc.importer import Importer, summary_lines


def add_import_parser(sub: argparse._SubParsersAction) -> None:
    m = sub.add_parser(
        "import", help="import the original system's telemetry file into a running sanctum",
        description="Map a JSONL telemetry file written by the original system (its "
                    "telemetry hub's file output; plain or .gz, several runs appended, A/B "
                    "groups) to Esper events and stream it into sanctum, with a progress bar "
                    "on stderr and a summary of what was imported and skipped at the end. "
                    "Safe to repeat and to interrupt: a second import sends nothing, an "
                    "interrupted one continues from what sanctum already holds.")
    m.add_argument("file", type=Path, help="the JSONL file (plain or gzip)")
    m.add_argument("--server", default="127.0.0.1:50051", metavar="HOST:PORT",
                   help="sanctum address (default 127.0.0.1:50051)")
    m.add_argument("--format", default="original-jsonl", choices=["original-jsonl"],
                   help="file format (default original-jsonl: one event object per line)")
    m.add_argument("--token", default=os.environ.get("ESPER_TOKEN"),
                   help="bearer token (default: $ESPER_TOKEN)")
    m.add_argument("--tls-ca", type=Path, metavar="FILE",
                   help="CA certificate to verify a TLS sanctum")
    m.add_argument("-q", "--quiet", action="store_true",
                   help="no progress bar; only the summary")


def _fail(message: str) -> int:
    print(f"esper-sanctum: error: {message}", file=sys.stderr, flush=True)
    return 2


def run_import(args: argparse.Namespace) -> int:
    if not args.file.is_file():
        return _fail(f"no such file: {args.file}")
    cfg = ChannelConfig(args.server, token=args.token or None, tls_ca=args.tls_ca)
    progress = ByteProgress("import", enabled=not args.quiet)
    try:
        with sync_channel(cfg) as channel:
            importer = Importer(args.file, channel, cfg.metadata(), progress)
            result = importer.run()
    except KeyboardInterrupt:
        progress.finish()
        print("esper-sanctum: import interrupted; run the same command again to continue "
              "where it stopped", file=sys.stderr)
        return 130
    except OSError as exc:
        progress.finish()
        return _fail(f"cannot read {args.file}: {exc}")
    progress.finish()
    for line in summary_lines(args.file, result, importer.mapper.report):
        print(line, flush=True)
    if result.error is not None:
        return _fail(f"import into {args.server} stopped after {result.sent:,} events: "
                     f"{describe(result.error, cfg)}; run the same command again to "
                     "continue where it stopped")
    return 0
