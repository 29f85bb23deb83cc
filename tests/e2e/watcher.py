"""A subscriber process for the separate-hosts test: watch a run until it completes.

Prints `applied N` whenever the applied count grows (the test follows progress on stdout)
and writes the final snapshot's bytes to --out. Run as `python -m tests.e2e.watcher`.
"""

from __future__ import annotations

import argparse
import sys
import time

import grpc

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.sanctum.v2 import sanctum_pb2_grpc
from esper_common.channel import ChannelConfig, sync_channel


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--server", required=True)
    p.add_argument("--token")
    p.add_argument("--run", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--timeout", type=float, default=180)
    p.add_argument("--once", action="store_true", help="one GetSnapshot, then exit")
    ns = p.parse_args()
    cfg = ChannelConfig(ns.server, token=ns.token, subscriber=True)
    deadline = time.monotonic() + ns.timeout
    last_applied = -1
    with sync_channel(cfg) as channel:
        stub = sanctum_pb2_grpc.SanctumServiceStub(channel)
        if ns.once:
            final = stub.GetSnapshot(spb.GetSnapshotRequest(run_id=ns.run),
                                     metadata=cfg.metadata(), timeout=10).snapshot
            with open(ns.out, "wb") as fh:
                fh.write(final.SerializeToString())
            return 0
        stream = stub.WatchSnapshots(spb.WatchSnapshotsRequest(run_id=ns.run, max_hz=10),
                                     metadata=cfg.metadata(), timeout=ns.timeout)
        try:
            for msg in stream:
                if time.monotonic() > deadline:
                    break
                if not msg.HasField("snapshot"):
                    continue
                snap = msg.snapshot
                if snap.delivery.events_applied != last_applied:
                    last_applied = snap.delivery.events_applied
                    print(f"applied {last_applied}", flush=True)
                if snap.run.status == spb.RUN_STATUS_COMPLETED:
                    # The completion event is the last one a trainer sends; take one more
                    # unary read so the snapshot is the server's final word.
                    final = stub.GetSnapshot(spb.GetSnapshotRequest(run_id=ns.run),
                                             metadata=cfg.metadata(), timeout=10).snapshot
                    with open(ns.out, "wb") as fh:
                        fh.write(final.SerializeToString())
                    print("completed", flush=True)
                    return 0
        except grpc.RpcError as err:
            print(f"watch failed: {err.code().name}: {err.details()}", file=sys.stderr)
            return 1
    print("timed out before the run completed", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
