"""TelemetryConfig: where events go and how the client buffers them, validated up front."""

from __future__ import annotations

import os
import re
import shlex
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def default_spool_root() -> Path:
    """$XDG_CACHE_HOME/esper/spool (or ~/.cache/...), else the system temp dir."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    if base and os.access(os.path.dirname(base) or "/", os.W_OK):
        return Path(base) / "esper" / "spool"
    return Path(tempfile.gettempdir()) / "esper-spool"


def usable_cpus() -> int:
    """CPUs this process may run on: its affinity mask, capped by a cgroup CPU quota (a
    container started with `--cpus 1` sees every host CPU in its mask but gets one)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # no affinity API on this platform
        cpus = os.cpu_count() or 1
    quota = _cgroup_quota()
    return max(1, min(cpus, quota)) if quota is not None else max(1, cpus)


def spare_cpu() -> bool:
    """What sender_process="auto" chooses: a sender process when this process may use 2+
    CPUs, so the child runs beside training instead of taking turns with it."""
    return usable_cpus() >= 2


def _cgroup_quota(root: str = "/sys/fs/cgroup") -> int | None:
    """CPUs granted by a cgroup v2 (cpu.max) or v1 (cpu.cfs_quota_us) quota, rounded up;
    None when there is none or it cannot be read."""
    try:
        with open(os.path.join(root, "cpu.max")) as f:
            quota, period = f.read().split()[:2]
        if quota == "max":
            return None
        return -(-int(quota) // int(period))
    except (OSError, ValueError):
        pass
    try:
        with open(os.path.join(root, "cpu", "cpu.cfs_quota_us")) as f:
            quota_us = int(f.read())
        with open(os.path.join(root, "cpu", "cpu.cfs_period_us")) as f:
            period_us = int(f.read())
    except (OSError, ValueError):
        return None
    return -(-quota_us // period_us) if quota_us > 0 and period_us > 0 else None


def safe_name(text: str) -> str:
    """A file-name-safe rendering of a run or producer id."""
    return _UNSAFE.sub("_", text)[:80] or "_"


@dataclass
class TelemetryConfig:
    """How a TelemetryClient delivers events.

    `target` is sanctum's "host:port"; None writes an event file at `file_path` instead
    (load it later with `esper-sanctum ingest FILE`). Defaults suit a trainer emitting up to
    tens of thousands of events per second.
    """

    target: str | None
    run_id: str
    producer_id: str
    #: Bearer token sent as `authorization: Bearer <token>` on every RPC.
    token: str | None = None
    #: PEM file of the CA that signed sanctum's certificate; None = plaintext.
    tls_ca: str | None = None
    #: Event file written when `target` is None.
    file_path: str | None = None
    #: Where overflow spool segments (and undelivered leftovers) go; None = user cache dir.
    spool_dir: str | None = None
    #: Events per EventBatch (one gRPC message, one ack on IngestStream; sanctum takes up to
    #: 10,000). A send should be one batch: sanctum applies, and so publishes, a batch at a
    #: time, and with 64 a 40 ms send at 2,000 events/s went as two, the second one's events
    #: reaching a 30 Hz subscriber a whole interval later (emit() -> subscriber p99 75 ms
    #: against 57 ms with 512, bench freshness rounds); and each message costs the client's
    #: gRPC threads about as much as 50 events of Python work (`python -m bench sender`:
    #: client-thread CPU per event ~25 % lower than with 64). 512 covers 100 ms at 5,000 ev/s.
    batch_max_events: int = 512
    #: Serialized bytes per EventBatch (sanctum rejects messages over 4 MiB).
    batch_max_bytes: int = 1024 * 1024
    #: A single event larger than this is rejected locally (counted, logged once).
    max_event_bytes: int = 512 * 1024
    #: Batches per Ingest stream; the stream then closes and its response acknowledges them.
    max_batches_per_call: int = 16
    #: Send on one long-lived IngestStream (per-batch acks, no call per send); False, or a
    #: sanctum that answers UNIMPLEMENTED, uses one Ingest call per send instead.
    ingest_stream: bool = True
    #: Batches sent on the IngestStream and not yet acknowledged, at most (sanctum works on
    #: up to 8 of one stream at a time); their events stay buffered until acked.
    max_unacked_batches: int = 8
    #: Adaptive flush: the first emit() to an idle sender wakes it and ships at once; what is
    #: emitted while a send is in flight goes in the next one, which starts no sooner than
    #: `send_gap_s` after the previous one started. The gap caps sends at 1/send_gap_s a
    #: second under load and is the most an event waits for a busy pipe. 40 ms: just longer
    #: than the interval of sanctum's fastest subscriber (30 Hz, 33 ms), so under load each
    #: send reaches an idle subscriber at once instead of waiting out its interval. Measured
    #: with 512-event batches, 32 subscribers at 30 Hz, 2,000 events/s (bench freshness
    #: rounds): emit() -> subscriber p99 45.7 ms at 40 ms, 50.1 at 45, 55.8 at 50, 74.9 at
    #: 20 (faster sends than the subscribers' rate are coalesced by them). A send costs the
    #: client's threads ~0.4 ms (`python -m bench sender`), so 25 sends/s is ~1 % of a core.
    send_gap_s: float = 0.04
    #: Longest the sender sleeps with nothing to wake it (drop reports, retries are due).
    flush_interval_s: float = 0.2
    #: Unsent events kept in memory before they spill to the spool.
    memory_buffer_events: int = 10_000
    #: Hard cap on events waiting for the sender thread itself (only reached if it stalls);
    #: beyond it emit() drops non-essential events (counted).
    ingress_max_events: int = 200_000
    #: Unread spool bytes before the drop policy starts thinning (2x: essential events only).
    spool_max_bytes: int = 256 * 1024 * 1024
    #: Size of one spool segment file; segments are deleted once acknowledged.
    spool_segment_bytes: int = 4 * 1024 * 1024
    #: While the spool is over its limit, keep every k-th event of each high-rate type.
    thin_keep_every: int = 10
    #: Deadline of one Ingest / GetResumeCursor call.
    rpc_timeout_s: float = 10.0
    #: Reconnect backoff: exponential from initial to max, with jitter.
    backoff_initial_s: float = 0.1
    backoff_max_s: float = 5.0
    #: Bounded flush at interpreter exit (atexit hook).
    atexit_timeout_s: float = 5.0
    #: Run the sender in a child process (spawned by start(), not forked) instead of a
    #: thread: its work and gRPC's threads then never hold the training process's GIL,
    #: which costs training wall time even when they run on another CPU. The training
    #: process keeps emit() and one light thread that hands the child what was queued each
    #: send gap, and keeps it until the child reports it acknowledged or saved. "auto": a
    #: process when this process may use 2+ CPUs (`usable_cpus`), a thread otherwise (on one
    #: CPU the child's extra work costs more than the lock it frees).
    sender_process: bool | Literal["auto"] = False

    def __post_init__(self) -> None:
        if not self.run_id:
            raise ValueError("TelemetryConfig.run_id must not be empty")
        if not self.producer_id:
            raise ValueError("TelemetryConfig.producer_id must not be empty")
        if self.target is None and not self.file_path:
            raise ValueError("TelemetryConfig needs a target (host:port) or a file_path")
        if self.target is not None and ":" not in self.target:
            raise ValueError(f"TelemetryConfig.target must be host:port, got {self.target!r}")
        if self.tls_ca is not None and not os.access(self.tls_ca, os.R_OK):
            raise ValueError(f"TelemetryConfig.tls_ca: cannot read {self.tls_ca!r}")
        for name in (
            "batch_max_events", "batch_max_bytes", "max_event_bytes", "max_batches_per_call",
            "max_unacked_batches",
            "memory_buffer_events", "ingress_max_events", "spool_max_bytes",
            "spool_segment_bytes", "thin_keep_every",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"TelemetryConfig.{name} must be >= 1")
        for name in ("flush_interval_s", "rpc_timeout_s", "backoff_initial_s", "backoff_max_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"TelemetryConfig.{name} must be > 0")
        if not 0 <= self.send_gap_s <= self.flush_interval_s:
            raise ValueError("TelemetryConfig.send_gap_s must be in [0, flush_interval_s]")
        if self.sender_process not in (True, False, "auto"):
            raise ValueError("TelemetryConfig.sender_process must be True, False or 'auto', "
                             f"got {self.sender_process!r}")

    def uses_sender_process(self) -> bool:
        """Whether start() runs the sender in a child process (resolves "auto")."""
        if self.sender_process == "auto":
            return spare_cpu()
        return bool(self.sender_process)

    def spool_path(self, pid: int | None = None) -> Path:
        """This client's own spool directory (one per run, producer and process: this one,
        or process `pid`)."""
        root = Path(self.spool_dir) if self.spool_dir else default_spool_root()
        pid = os.getpid() if pid is None else pid
        return root / f"{safe_name(self.run_id)}.{safe_name(self.producer_id)}.{pid}"

    def undelivered_path(self) -> Path:
        """Event file for events that could not be delivered (outage at close, auth refused)."""
        root = Path(self.spool_dir) if self.spool_dir else default_spool_root()
        return root / f"{safe_name(self.run_id)}.{safe_name(self.producer_id)}.undelivered.events"

    def ingest_command(self, path: Path | str, token: bool | None = None) -> str:
        """The `esper-sanctum ingest` command that loads `path` into this client's sanctum,
        with every flag it needs; the token (when we have one, or `token` says so) as
        "$ESPER_TOKEN", never written to a log."""
        cmd = ["esper-sanctum", "ingest", shlex.quote(str(path))]
        if self.target is not None:
            cmd += ["--server", shlex.quote(self.target)]
        if self.tls_ca is not None:
            cmd += ["--tls-ca", shlex.quote(str(Path(self.tls_ca).resolve()))]
        if self.token if token is None else token:
            cmd += ["--token", '"$ESPER_TOKEN"']
        return " ".join(cmd)
