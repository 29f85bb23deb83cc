"""`esper down`: stop what `esper up` left running from one data directory."""

from __future__ import annotations

import sys
from pathlib import Path

from esper_common.procs import STATE_FILE, State, locked, stop


def down(data_dir: Path) -> int:
    """Stop the supervisor (a running `esper up`), the trainers, then sanctum. Exit 0."""
    if not (data_dir / STATE_FILE).exists():
        print(f"esper down: nothing was started from {data_dir}", file=sys.stderr)
        return 0
    state = State.load(data_dir).live()
    procs = state.procs()
    if state.supervisor is not None:
        # A running `esper up` stops its TUI and what it started itself; wait for it.
        stop(state.supervisor, 60)
    with locked(data_dir):
        for proc in procs[1:] if state.supervisor is not None else procs:
            what = f"{proc.name} (run {proc.run_id})" if proc.run_id else proc.name
            if proc.alive():
                print(f"esper down: stopping {what}, pid {proc.pid}", file=sys.stderr)
            stop(proc, 30 if proc.name == "trainer" else 15)
        (data_dir / STATE_FILE).unlink(missing_ok=True)
    if not procs:
        print(f"esper down: nothing was running from {data_dir}", file=sys.stderr)
    else:
        print(f"esper down: stopped (store kept: {state.store or data_dir})", file=sys.stderr)
    return 0
