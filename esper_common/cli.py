"""`esper`: umbrella command. `esper up` runs sanctum + trainer + TUI locally (issue 6)."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="esper", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="run a local sanctum, a training run and the TUI together")
    parser.parse_args(argv)
    print("esper up is not implemented yet (see issue 6).", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
