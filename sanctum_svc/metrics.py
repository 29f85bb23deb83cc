"""Prometheus metrics of one server: own registry, so several servers can share a process.

Counters move per batch, not per event, to keep the ingest path cheap. The HTTP endpoint
is optional (`--metrics-port`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    start_http_server,
)

from sanctum_svc.observe import RpcMetrics
from sanctum_svc.run_metrics import RunCollector

if TYPE_CHECKING:
    from sanctum_svc.aggregator import Aggregator
    from sanctum_svc.ingest import BatchResult


class Metrics:
    """Ingest, rejection, subscriber and snapshot-build metrics; per-RPC counts and times
    (sanctum_svc.observe); alert webhook counts; per-run gauges (watch_runs); and the
    process (CPU, memory, fds), Python GC and platform."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            r.register(collector)
        self.rpc = RpcMetrics(r)
        self.batches = Counter("sanctum_ingest_batches", "Accepted event batches", registry=r)
        self.events = Counter("sanctum_ingest_events", "Events received in accepted batches",
                              registry=r)
        self.applied = Counter("sanctum_events_applied", "Events applied (new seq)",
                               registry=r)
        self.duplicates = Counter("sanctum_events_duplicate",
                                  "Events ignored as duplicates (seq already applied)",
                                  registry=r)
        self.gaps = Counter("sanctum_gap_events", "Sequence numbers skipped by producers",
                            registry=r)
        self.rejected_events = Counter("sanctum_events_rejected",
                                       "Events in batches rejected as invalid", registry=r)
        self.rejected_batches = Counter("sanctum_batches_rejected",
                                        "Batches rejected as invalid", registry=r)
        self.apply_errors = Counter("sanctum_apply_errors",
                                    "Events whose aggregation raised (a bug)", registry=r)
        self.store_errors = Counter("sanctum_store_errors",
                                    "Batches refused because the store could not write",
                                    registry=r)
        self.store_corrupt = Gauge("sanctum_store_corrupt_rows",
                                   "Stored rows skipped on replay: checksum mismatch",
                                   registry=r)
        self.subscribers = Gauge("sanctum_subscribers", "Open WatchSnapshots streams",
                                 registry=r)
        self.stalled = Counter("sanctum_subscribers_stalled",
                               "Subscribers disconnected for not reading", registry=r)
        self.refused_subscribers = Counter(
            "sanctum_subscribers_refused", "WatchSnapshots refused at the subscriber limit",
            registry=r)
        self.deltas = Counter(
            "sanctum_snapshot_deltas", "Updates sent as a SnapshotDelta (incremental "
            "subscribers) instead of a full snapshot", registry=r)
        self.snapshot_build = Histogram(
            "sanctum_snapshot_build_seconds", "Time to build and serialize one snapshot",
            buckets=(1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1),
            registry=r)
        self.ingest_batch = Histogram(
            "sanctum_ingest_batch_seconds", "Time to validate, persist and apply one batch",
            registry=r)
        self.alerts_sent = Counter("esper_alerts_sent", "Alert webhook POSTs that succeeded",
                                   registry=r)
        self.alerts_failed = Counter("esper_alerts_failed",
                                     "Alert webhook POSTs that failed or timed out", registry=r)
        self.alerts_dropped = Counter("esper_alerts_dropped",
                                      "Alerts dropped because the webhook queue was full",
                                      registry=r)
        self._http: Any = None

    def watch_runs(self, aggregator: Aggregator) -> None:
        """Export per-run gauges of `aggregator` (sanctum_svc.run_metrics)."""
        self.registry.register(RunCollector(aggregator))

    def batch(self, result: BatchResult, seconds: float) -> None:
        self.batches.inc()
        self.events.inc(result.received)
        self.applied.inc(result.applied)
        if result.duplicate:
            self.duplicates.inc(result.duplicate)
        if result.gaps:
            self.gaps.inc(result.gaps)
        self.ingest_batch.observe(seconds)

    def rejected(self, n_events: int) -> None:
        self.rejected_batches.inc()
        self.rejected_events.inc(n_events)

    def apply_error(self) -> None:
        self.apply_errors.inc()

    def serve(self, port: int, addr: str = "127.0.0.1") -> int:
        """Expose /metrics over HTTP; returns the bound port (0 picks a free one)."""
        server, _thread = start_http_server(port, addr=addr, registry=self.registry)
        self._http = server
        return int(server.server_address[1])

    def close(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
