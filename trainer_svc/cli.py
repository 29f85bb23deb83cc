"""Console entry point (not implemented yet)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    print("trainer_svc: not implemented yet", file=sys.stderr)
    return 2
