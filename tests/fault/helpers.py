"""Fault-suite helpers: process gauges from /proc, Prometheus scraping, state comparison."""

from __future__ import annotations

import os
import urllib.request

from esper.sanctum.v2 import sanctum_pb2 as spb
from testkit import comparable


def fd_count(pid: int) -> int:
    """Open file descriptors of a process (sockets, files, pipes, eventfds)."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_bytes(pid: int) -> int:
    """Resident set size of a process."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def scrape(port: int, name: str) -> float:
    """One sample of a Prometheus metric (no labels) from sanctum's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise KeyError(name)


def same_state(snapshot: spb.SanctumSnapshot) -> spb.SanctumSnapshot:
    """What must equal an uninterrupted run's snapshot after crashes and resends: everything
    but time, version and the counters resends legitimately move (received, duplicate)."""
    out = comparable(snapshot)
    d = out.delivery
    d.ClearField("events_received")
    d.ClearField("events_duplicate")
    for p in d.producers:
        p.ClearField("events_duplicate")
    return out
