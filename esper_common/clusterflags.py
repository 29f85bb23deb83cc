"""Flags of `esper cluster up`, kept apart from sanctum_svc.cluster so `esper --help` works
without the cluster extra."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_cluster_up_flags(p: argparse.ArgumentParser, default_dir: Path) -> None:
    """The flags of `esper cluster up` (parsed without the cluster extra installed)."""
    p.add_argument("--data-dir", type=Path, default=default_dir,
                   help=f"NATS JetStream storage and logs (default {default_dir})")
    p.add_argument("--nats-port", type=int, default=4222, metavar="P",
                   help="client port of the first NATS server; the others use P+1, P+2 "
                        "and routes P+1000... (default 4222; 0 picks free ports)")
    p.add_argument("--port", type=int, default=50051, metavar="P",
                   help="gRPC port of the first sanctum replica, the next uses P+1 "
                        "(default 50051; 0 picks free ports)")
    p.add_argument("--replicas", type=int, default=2, choices=range(1, 6), metavar="N",
                   help="sanctum replicas (1-5, default 2)")
