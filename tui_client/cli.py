"""`esper-tui`: the live Sanctum dashboard in a terminal (or, with --serve, a browser)."""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
from pathlib import Path

from esper_common import settings
from tui_client.config import DEFAULT_SERVER, DEFAULT_TUI_HZ, MAX_UI_HZ, TuiOptions

EPILOG = """\
keys: q or ctrl+c quit · ? help · tab next panel · j/k next/prev env · 1-9 focus env #N ·
enter env detail · r switch run (/ searches) · p plot any metric over the whole run ·
g next policy group (A/B runs) · ctrl+r reconnect now ·
ctrl+p command palette

examples:
  esper-tui                                  # watch the newest run on 127.0.0.1:50051
  esper-tui --server sanctum:50051 --run r1  # a given run on another host
  esper-tui --serve                          # the same dashboard at http://127.0.0.1:8000
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="esper-tui",
        description="Watch a morphogenetic RL run live: subscribes to a sanctum server's "
        "snapshot stream and shows controller health, heads, envs, seeds and delivery.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--server",
        default=DEFAULT_SERVER,
        metavar="HOST:PORT[,HOST:PORT...]",
        help=f"sanctum gRPC address (default {DEFAULT_SERVER}); several replicas of a "
             "cluster, comma-separated, are tried in turn when one fails",
    )
    p.add_argument(
        "--run",
        default="",
        metavar="RUN_ID",
        help="run to watch; without it the newest run, or a picker when the server has several",
    )
    p.add_argument(
        "--token",
        metavar="T",
        help="bearer token sent as 'authorization: Bearer T' when sanctum requires one",
    )
    p.add_argument(
        "--tls-ca",
        type=Path,
        default=None,
        metavar="FILE",
        help="PEM CA certificate: connect with TLS and verify the server against it",
    )
    p.add_argument(
        "--max-hz",
        type=float,
        default=DEFAULT_TUI_HZ,
        metavar="N",
        help=f"snapshots per second to ask for (default {DEFAULT_TUI_HZ:g}); the screen "
        f"redraws as each arrives, at most min(N, {MAX_UI_HZ:g}) times per second (newest "
        "snapshot wins); lower it on a very slow link",
    )
    p.add_argument(
        "--serve",
        action="store_true",
        help="serve this dashboard in a browser (textual-serve) instead of the terminal",
    )
    p.add_argument(
        "--serve-host",
        default="127.0.0.1",
        metavar="HOST",
        help="with --serve: address to bind (default 127.0.0.1, this machine only)",
    )
    p.add_argument(
        "--serve-port",
        type=int,
        default=8000,
        metavar="PORT",
        help="with --serve: HTTP port (default 8000)",
    )
    p.add_argument(
        "--serve-token",
        metavar="T",
        help="with --serve: browsers must present T (the printed URL carries it); required "
        "when --serve-host is not a loopback address",
    )
    p.add_argument(
        "--public-url",
        metavar="URL",
        help="with --serve: the URL browsers use to reach it, e.g. behind a proxy (default "
        "http://SERVE_HOST:SERVE_PORT, this machine's name for 0.0.0.0)",
    )
    return p


def options_from_args(args: argparse.Namespace) -> TuiOptions:
    """Flags -> TuiOptions; raises ValueError with a message for the user."""
    if args.tls_ca is not None and not args.tls_ca.is_file():
        raise ValueError(f"--tls-ca {args.tls_ca}: no such file")
    return TuiOptions(
        server=args.server,
        run=args.run,
        token=args.token,
        tls_ca=args.tls_ca,
        max_hz=args.max_hz,
    )


def serve_command(args: argparse.Namespace) -> str:
    """The terminal command textual-serve runs per browser session (same flags, no --serve)."""
    parts = [
        sys.executable,
        "-m",
        "tui_client",
        "--server",
        args.server,
        "--max-hz",
        str(args.max_hz),
    ]
    if args.run:
        parts += ["--run", args.run]
    if args.token:
        # Through the environment, not argv: a command line is visible to every local user.
        os.environ["ESPER_TOKEN"] = args.token
    if args.tls_ca:
        parts += ["--tls-ca", str(args.tls_ca)]
    return shlex.join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = settings.parse_args(parser, argv, "tui")
    try:
        options = options_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    if args.serve:
        from esper_common.extras import require

        require("esper-tui --serve", ("web",))
        from tui_client import web

        refusal = web.exposure_error(args.serve_host, args.serve_token)
        if refusal:
            parser.error(refusal)
        url = web.public_url(args.serve_host, args.serve_port, args.public_url)
        web.serve(serve_command(args), args.serve_host, args.serve_port, args.serve_token, url)
        return 0
    from tui_client.app import EsperTui

    app = EsperTui(options)
    # SIGTERM (`esper down`, a closing supervisor) ends the app like a quit, so the
    # terminal is restored instead of left in raw mode.
    signal.signal(signal.SIGTERM, lambda _sig, _frame: app.exit(return_code=143))
    app.run()
    return app.return_code or 0


if __name__ == "__main__":
    sys.exit(main())
