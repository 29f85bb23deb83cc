"""The `esper-sanctum import` subcommand: its arguments and the run that prints the summary.

User errors print one line `esper-sanctum: error: ...` and exit with status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from esper_client.bridge.report import MapReport
from esper_common import logs
from esper_common.channel import ChannelConfig, sync_channel
from esper_common.diagnose import describe
from sanctum_svc.import_progress import ByteProgress
from sanctum_svc.importer import Importer, ImportResult, summary_lines


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
    logs.add_flags(m)


def _fail(message: str) -> int:
    logs.status("error", f"esper-sanctum: error: {message}", level="error")
    return 2


def _summary(path: Path, result: ImportResult, report: MapReport) -> None:
    """The summary on stdout: its lines as text, or one record with the counts as figures."""
    lines = summary_lines(path, result, report)
    reply = result.reply
    logs.status("import_summary", "\n".join(lines), stream=sys.stdout, file=str(path),
                lines=result.lines, events=result.events, sent=result.sent,
                applied=reply.events_applied if reply is not None else None,
                duplicates=reply.events_duplicate if reply is not None else None,
                already=result.already, skipped=report.n_skipped + report.malformed,
                runs=report.n_runs, seconds=round(result.seconds, 3),
                details=[line.strip() for line in lines[1:]])


def run_import(args: argparse.Namespace) -> int:
    logs.configure(args.log_level, args.log_format, service="sanctum")
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
        logs.status("interrupted", "esper-sanctum: import interrupted; run the same command "
                    "again to continue where it stopped", level="warning")
        return 130
    except OSError as exc:
        progress.finish()
        return _fail(f"cannot read {args.file}: {exc}")
    progress.finish()
    _summary(args.file, result, importer.mapper.report)
    if result.error is not None:
        return _fail(f"import into {args.server} stopped after {result.sent:,} events: "
                     f"{describe(result.error, cfg)}; run the same command again to "
                     "continue where it stopped")
    return 0
