"""`esper`: the umbrella command. `esper up` runs a whole local system in one go, `esper down`
stops it, `esper config show` prints the effective configuration of every command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from esper_common import logs, settings
from esper_common.up import UpConfig, default_data_dir


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="esper",
        description="Esper Sanctum: live telemetry for morphogenetic RL runs.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser(
        "up",
        help="run a local sanctum, a training run and the TUI together",
        description=(
            "Start esper-sanctum with its embedded SQLite store, an esper-trainer run "
            "streaming into it, and esper-tui attached to that run. Quitting the TUI (q) "
            "leaves sanctum and training running in the background: `esper-tui --server "
            "ADDRESS` or `esper up` again shows them, `esper down` (or Ctrl-C twice in the "
            "TUI) stops everything. Without a terminal (or with --headless) it stays in the "
            "foreground and stops everything when training ends or on Ctrl-C."
        ),
    )
    p.add_argument("--port", type=int, default=50051,
                   help="sanctum port on 127.0.0.1 (a free one is used if busy; default 50051)")
    p.add_argument("--data-dir", type=Path, default=None,
                   help=f"store and logs (default {default_data_dir()})")
    p.add_argument("--episodes", type=int, help="training episodes (trainer default if omitted)")
    p.add_argument("--envs", type=int, help="parallel environments (trainer default if omitted)")
    p.add_argument("--seed", type=int, help="random seed (trainer default if omitted)")
    p.add_argument("--device", help="policy device, e.g. cpu or cuda (trainer default)")
    p.add_argument("--headless", action="store_true",
                   help="no TUI: show trainer progress and exit when training ends")
    p.add_argument("--detach", action="store_true",
                   help="start sanctum and training in the background and return at once")
    p.add_argument("--stop-on-quit", action="store_true",
                   help="quitting the TUI stops sanctum and training too")
    logs.add_flags(p)
    p.add_argument("trainer_args", nargs=argparse.REMAINDER,
                   help="after --, extra arguments passed to esper-trainer")

    d = sub.add_parser("down", help="stop what `esper up` left running",
                       description="Stop the training runs and the sanctum that `esper up` "
                                   "started from this data directory (training stops after "
                                   "its current step and reads STOPPED).")
    d.add_argument("--data-dir", type=Path, default=None,
                   help=f"the data directory given to esper up (default {default_data_dir()})")

    cl = sub.add_parser("cluster", help="run a local sanctum cluster (NATS JetStream)")
    clsub = cl.add_subparsers(dest="cluster_command", required=True, metavar="COMMAND")
    clup = clsub.add_parser(
        "up", help="3 NATS servers and 2 sanctum replicas here, until Ctrl-C",
        description="Start 3 NATS JetStream servers (cluster routes, R=3) and sanctum "
                    "replicas following them (esper-sanctum serve --cluster), print the "
                    "addresses to give esper-trainer --sanctum and esper-tui --server, and "
                    "stop everything on Ctrl-C. Needs the cluster extra.")
    from esper_common.clusterflags import add_cluster_up_flags

    add_cluster_up_flags(clup, default_data_dir() / "cluster")

    c = sub.add_parser("config", help="show the effective configuration")
    csub = c.add_subparsers(dest="config_command", required=True, metavar="COMMAND")
    show = csub.add_parser(
        "show", help="print every command's effective configuration (secrets masked)",
        description="Print the configuration every command would use here, as a TOML config "
                    "file: each value with where it comes from (ESPER_* environment, config "
                    "file, default). Tokens are masked.")
    show.add_argument("section", nargs="?", metavar="SECTION",
                      help="only this command's section, e.g. tui, trainer, up, sanctum.serve")
    return parser


def main(argv: list[str] | None = None) -> int:
    ns = settings.parse_args(build_parser(), argv, "")
    if ns.command == "down":
        from esper_common.down import down

        return down(ns.data_dir or default_data_dir())
    if ns.command == "config":
        from esper_common.showconfig import render

        try:
            sys.stdout.write(render(only=ns.section, config=getattr(ns, "config", None)))
        except settings.SettingsError as exc:
            print(f"esper: error: {exc}", file=sys.stderr)
            return 2
        return 0
    from esper_common.extras import require

    if ns.command == "cluster":
        require("esper cluster up", ("cluster",))
        from sanctum_svc.cluster.up import up as cluster_up

        return cluster_up(ns)
    from esper_common.up import up

    require("esper up", ("server", "trainer", "tui"))
    logs.configure(ns.log_level, ns.log_format, service="up")
    headless = ns.headless or not (sys.stdin.isatty() and sys.stdout.isatty())
    extra = tuple(a for a in ns.trainer_args if a != "--")
    cfg = UpConfig(port=ns.port, data_dir=ns.data_dir, episodes=ns.episodes, envs=ns.envs,
                   seed=ns.seed, device=ns.device, headless=headless and not ns.detach,
                   detach=ns.detach, stop_on_quit=ns.stop_on_quit, log_level=ns.log_level,
                   log_format=ns.log_format, trainer_args=extra)
    return up(cfg)


if __name__ == "__main__":
    sys.exit(main())
