"""Stream a run of the original system (its telemetry hub) to Esper Sanctum.

In a training script of the original system, one line attaches the bridge to its hub:

    from esper.nissa import get_hub
    from esper_client.bridge import SanctumOutput

    get_hub().add_backend(SanctumOutput("gpu-box:50051"))   # before training starts

Every event the hub emits is then mapped (as `esper-sanctum import` maps the hub's JSONL
file) and streamed; the hub closes the backend, which flushes, when it shuts down.

Without the original system at hand, this script replays a JSONL file its hub wrote
through the same backend, as the hub would deliver it (one worker thread calling emit):

    python examples/original_hub.py tests/fixtures/original-small.jsonl.gz --server localhost:50051
"""

from __future__ import annotations

import argparse
import gzip
import json
import queue
import threading
from pathlib import Path

from esper_client.bridge import SanctumOutput


def replay(path: Path, backend: SanctumOutput) -> int:
    """Feed every line of `path` to `backend` from a worker thread, as the hub does."""
    lines: queue.Queue[dict | None] = queue.Queue(maxsize=100)

    def work() -> None:
        while (record := lines.get()) is not None:
            backend.emit(record)

    worker = threading.Thread(target=work)
    backend.start()
    worker.start()
    opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
    n = 0
    with opener(path, "rt", encoding="utf-8") as f:  # type: ignore[operator]
        for line in f:
            if line.strip():
                try:
                    lines.put(json.loads(line))
                except json.JSONDecodeError:
                    continue  # the mapping's report counts only what reaches it
                n += 1
    lines.put(None)
    worker.join()
    backend.close()
    return n


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, help="a JSONL file the original's hub wrote")
    parser.add_argument("--server", default="localhost:50051", help="sanctum HOST:PORT")
    args = parser.parse_args(argv)
    backend = SanctumOutput(args.server)
    n = replay(args.file, backend)
    report = backend.report
    print(f"replayed {n:,} events: {report.n_mapped:,} streamed to {args.server} as run(s) "
          f"{report.run_list()}; {report.n_skipped:,} without a mapping")
    for line in report.lines():
        print(f"  {line}")


if __name__ == "__main__":
    main()
