"""An output backend for the original system's telemetry hub: stream a live run of the
original to a remote sanctum with one line.

    from esper_client.bridge import SanctumOutput
    hub.add_backend(SanctumOutput("gpu-box:50051"))      # hub = the original's telemetry hub

The hub calls `start()`, then `emit(event)` for every event (from its own worker thread),
then `close()`. Events are read by attribute or as dicts (event_type, timestamp, data,
group_id, ...), so the original system need not be importable here; they go through the
same mapping as `esper-sanctum import` (esper_client.bridge.mapper), and from there through
a TelemetryClient per run: never blocking the hub, buffered and spooled while sanctum is
away. What has no mapping is counted (`report`) and summed up in the log at close.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import threading
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from esper_client.bridge.mapper import Mapper
from esper_client.bridge.report import MapReport
from esper_client.client import TelemetryClient
from esper_client.config import TelemetryConfig
from esper_client.ids import default_producer_id

log = logging.getLogger("esper_client.bridge")
_ENVELOPE = ("event_id", "event_type", "timestamp", "seed_id", "slot_id", "epoch", "group_id",
             "message", "severity")
#: Nesting followed when turning a payload object into plain data.
MAX_DEPTH = 16
#: Runs with a client at once (one process of the original trains its runs one by one).
MAX_CLIENTS = 4


class SanctumOutput:
    """Duck-typed OutputBackend of the original hub (start / emit / close).

    server: sanctum's "host:port"; run_id: use this id instead of the one derived from the
    original's run; token / tls_ca: as for every client; `options`: TelemetryConfig fields.
    """

    def __init__(self, server: str = "127.0.0.1:50051", *, run_id: str | None = None,
                 token: str | None = None, tls_ca: str | None = None,
                 producer_id: str | None = None, **options: Any) -> None:
        self.server = server
        self.producer_id = producer_id or default_producer_id("bridge")
        self._options = {"token": token, "tls_ca": tls_ca, **options}
        self._mapper = Mapper(run_id=run_id)
        self._clients: dict[str, TelemetryClient] = {}
        self._lock = threading.Lock()
        self._closed = False
        TelemetryConfig(target=server, run_id="check", producer_id=self.producer_id,
                        **self._options)  # fail now, in the caller, on a bad setting

    @property
    def report(self) -> MapReport:
        return self._mapper.report

    def start(self) -> bool:
        """Nothing to open yet: a run's client starts with its first event."""
        return True

    def emit(self, event: Any) -> None:
        """Map one event of the hub and queue what it yields; never raises (a failure to
        read the event is counted in `report`)."""
        try:
            record = to_record(event)
        except Exception as exc:  # an object this bridge cannot read: counted, not fatal
            with self._lock:
                self._mapper.report.skip("(unreadable)", type(exc).__name__)
            return
        with self._lock:
            if self._closed:
                return
            for run_id, ev in self._mapper.feed(record):
                self._client(run_id).emit(ev)

    def close(self, timeout: float = 10.0) -> None:
        """Send what the mapping still holds, flush every run (at most `timeout` s each)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for run_id, ev in self._mapper.close():
                self._client(run_id).emit(ev)
            clients = list(self._clients.values())
        for client in clients:
            client.close(timeout)
        for line in self.report.lines():
            log.info("esper bridge: %s", line)

    def stats(self) -> dict[str, dict[str, int]]:
        """Delivery counters per run."""
        return {run_id: c.stats() for run_id, c in self._clients.items()}

    def _client(self, run_id: str) -> TelemetryClient:
        client = self._clients.get(run_id)
        if client is None:
            if len(self._clients) >= MAX_CLIENTS:  # runs do not interleave: the oldest is done
                oldest = next(iter(self._clients))
                self._clients.pop(oldest).close()
            cfg = TelemetryConfig(target=self.server, run_id=run_id,
                                  producer_id=self.producer_id, **self._options)
            client = self._clients[run_id] = TelemetryClient(cfg)
            client.start()
        return client


def to_record(event: Any) -> dict[str, Any]:
    """The original's TelemetryEvent (or a dict of its JSONL form) as a JSONL-shaped dict."""
    if isinstance(event, Mapping):
        return dict(event)
    out = {name: plain(getattr(event, name, None)) for name in _ENVELOPE}
    out["data"] = plain(getattr(event, "data", None))
    return out


def plain(value: Any, depth: int = 0) -> Any:
    """JSON-like data from the original's payload objects, as its file output writes them:
    enums by name, times in ISO 8601, dataclasses and `to_dict()` objects as dicts."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if depth > MAX_DEPTH:
        return None
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v, depth + 1) for v in value]
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return plain(to_dict(), depth + 1)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name), depth + 1)
                for f in dataclasses.fields(value)}
    return str(value)
