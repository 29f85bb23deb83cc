"""`esper`: the umbrella command. `esper up` runs a whole local system in one go."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from esper_common.up import UpConfig, default_data_dir, up


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
            "streaming into it, and esper-tui attached to that run. Quit the TUI (q) or "
            "press Ctrl-C to stop everything; nothing is left running."
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
    p.add_argument("trainer_args", nargs=argparse.REMAINDER,
                   help="after --, extra arguments passed to esper-trainer")
    return parser


def main(argv: list[str] | None = None) -> int:
    ns = build_parser().parse_args(argv)
    extra = tuple(a for a in ns.trainer_args if a != "--")
    headless = ns.headless or not (sys.stdin.isatty() and sys.stdout.isatty())
    cfg = UpConfig(port=ns.port, data_dir=ns.data_dir, episodes=ns.episodes, envs=ns.envs,
                   seed=ns.seed, device=ns.device, headless=headless, trainer_args=extra)
    return up(cfg)


if __name__ == "__main__":
    sys.exit(main())
