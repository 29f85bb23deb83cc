"""`esper-sanctum serve` with steps of the ingest path removed: a measuring device only.

Started by bench/bench_ceiling.py as `python bench/ceiling_server.py --skip STEPS serve ...`,
STEPS the ones to leave out, comma-separated (the rest of the arguments go to serve):
- validate: every batch passes validation (no rule is checked);
- store: nothing is written (no SQLite transaction, no series index), the batch counts as
  committed at once;
- apply: accepted events change no aggregator state (snapshots stay empty).
What remains is the rest of the path: gRPC, parsing, planning (seq, duplicates, caps), the
store thread's hand-off, acknowledgement. Its rate bounds what any speed-up of the removed
steps alone can reach.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

STEPS = ("validate", "store", "apply")


def remove(steps: set[str]) -> None:
    """Replace the named steps of sanctum's ingest path with ones that do nothing."""
    import sanctum_svc.ingest as ingest
    import sanctum_svc.store_thread as store_thread

    unknown = steps - set(STEPS)
    if unknown:
        raise SystemExit(f"ceiling_server: unknown steps {sorted(unknown)}; known: {STEPS}")
    if "validate" in steps:
        ingest.validate_batch = lambda *args, **kwargs: []
    if "store" in steps:
        def commit(self: Any, jobs: Sequence[Any]) -> None:
            for job in jobs:
                job.last_row = None

        store_thread.AsyncStore._commit = commit  # type: ignore[method-assign]  # removed on purpose
    if "apply" in steps:
        ingest.IngestPipeline._apply = (  # type: ignore[method-assign]  # removed on purpose
            lambda self, events, plan, received_at: None)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--skip"]:
        remove({s for s in argv[1].split(",") if s})
        argv = argv[2:]
    from sanctum_svc.cli import main as serve

    return serve(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
