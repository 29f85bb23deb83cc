"""Run and producer ids that do not collide: a producer id is new for every process start,
so a restarted job's seqs (from 1 again) are never taken for duplicates of the first's."""

from __future__ import annotations

import os
import re
import secrets
import socket
import sys
import time
from pathlib import Path

#: Random per process start.
START_TOKEN = secrets.token_hex(3)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def default_producer_id(who: str | None = None) -> str:
    """'<host>-<who>-<hex>', `who` defaulting to the process id (a trainer passes its rank:
    'rank3'); the hex is random per process start."""
    return f"{socket.gethostname()}-{who or os.getpid()}-{START_TOKEN}"


def new_run_id(prefix: str | None = None) -> str:
    """'<script>-<yyyymmdd-hhmmss>-<hex>': readable in a run picker, unique across hosts."""
    if prefix is None:
        script = Path(sys.argv[0]).stem if sys.argv and sys.argv[0] else ""
        prefix = script if script and script not in ("-c", "-m", "") else "run"
    name = _UNSAFE.sub("-", prefix).strip("-")[:64] or "run"
    return f"{name}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
