"""Record what a real sanctum sends to an incremental and a full WatchSnapshots subscriber
while a run's events arrive in steps, for the Node client's unit tests (src/delta.test.ts).

    make -C clients/node fixture   (runs: python scripts/record_watch.py testdata/watch.json)

Each step is ingested, then both streams are read until they reached the server's version,
so the two recordings hold the same versions. The file is JSON: the two lists of
WatchSnapshotsResponse messages (base64 of their bytes, heartbeats left out), in order.
"""

from __future__ import annotations

import base64
import contextlib
import json
import sys
import threading
from pathlib import Path

import grpc

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from esper.sanctum.v2 import sanctum_pb2 as spb  # noqa: E402
from testkit import ThreadedSanctum  # noqa: E402
from testkit.original_mix import original_mix  # noqa: E402

RUN = "mix"
STEPS = 8


class Stream:
    """One WatchSnapshots call read on its own thread; keeps snapshots and deltas."""

    def __init__(self, server: ThreadedSanctum, incremental: bool) -> None:
        self.channel = server.channel(subscriber=True)
        self.call = server.stub(self.channel).WatchSnapshots(
            spb.WatchSnapshotsRequest(run_id=RUN, max_hz=50, incremental=incremental),
            metadata=server.metadata)
        self.messages: list[spb.WatchSnapshotsResponse] = []
        self.version = 0
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        with contextlib.suppress(grpc.RpcError):  # cancelled by close()
            for msg in self.call:
                kind = msg.WhichOneof("kind")
                if kind == "heartbeat":
                    continue
                with self.cond:
                    self.messages.append(msg)
                    self.version = getattr(msg, kind).version
                    self.cond.notify_all()

    def wait_version(self, version: int, timeout: float = 20.0) -> None:
        with self.cond:
            if not self.cond.wait_for(lambda: self.version >= version, timeout):
                raise TimeoutError(f"stream stuck at version {self.version}, want {version}")

    def close(self) -> list[str]:
        self.call.cancel()
        self.channel.close()
        with self.cond:
            return [base64.b64encode(m.SerializeToString()).decode() for m in self.messages]


def record() -> dict[str, object]:
    events = original_mix(RUN, n_batches=1)
    first, rest = events[:60], events[60:]
    step = -(-len(rest) // STEPS)
    with ThreadedSanctum() as server:
        server.ingest(first)
        inc, full = Stream(server, incremental=True), Stream(server, incremental=False)
        for i in range(0, len(rest), step):
            server.ingest(rest[i:i + step])
            version = server.snapshot(RUN).version
            inc.wait_version(version)
            full.wait_version(version)
        return {"run_id": RUN, "incremental": inc.close(), "full": full.close()}


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} OUT.json")
    out = Path(sys.argv[1])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record(), indent=0) + "\n")
    print(f"wrote {out} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
