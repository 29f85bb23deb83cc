"""`--alert-webhook URL`: POST each health finding's rising and falling edge as JSON.

Edges are offered from the ingest path into a bounded queue (`offer` never blocks: over the
bound an alert is dropped and counted); one task drains it, POSTing in a worker thread with
a timeout, so a slow or failing webhook delays only its own alerts, never ingest. The task
also evaluates the time-based `stall` rule every few seconds, so a silent trainer alerts
even when nobody watches the run.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

from google.protobuf import json_format

from esper.sanctum.v2 import sanctum_pb2 as spb

if TYPE_CHECKING:
    from sanctum_svc.aggregator import Aggregator
    from sanctum_svc.metrics import Metrics

log = logging.getLogger(__name__)

#: Alerts waiting to be sent; more are dropped (and counted).
QUEUE_SIZE = 1000
#: Seconds one POST may take.
POST_TIMEOUT_S = 5.0
#: Seconds between stall checks of every run.
STALL_CHECK_S = 2.0


def payload(run_id: str, finding: spb.HealthFinding, rising: bool) -> bytes:
    """The JSON body: run id, edge, the finding as proto3 JSON (field names as in .proto)."""
    body: dict[str, Any] = {
        "run_id": run_id, "edge": "rising" if rising else "falling",
        "finding": json_format.MessageToDict(finding, preserving_proto_field_name=True),
    }
    return json.dumps(body).encode()


class AlertWebhook:
    """The bounded queue and the task that drains it to `url`."""

    def __init__(self, url: str, metrics: Metrics, aggregator: Aggregator, *,
                 queue_size: int = QUEUE_SIZE, timeout_s: float = POST_TIMEOUT_S) -> None:
        self.url = url
        self.metrics = metrics
        self.aggregator = aggregator
        self.timeout_s = timeout_s
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(queue_size)
        self._tasks: list[asyncio.Task[None]] = []

    def offer(self, run_id: str, finding: spb.HealthFinding, rising: bool) -> None:
        """Queue one edge without waiting; dropped (and counted) when the queue is full."""
        try:
            self.queue.put_nowait(payload(run_id, finding, rising))
        except asyncio.QueueFull:
            self.metrics.alerts_dropped.inc()

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._drain(), name="alert-webhook"),
                       asyncio.create_task(self._stalls(), name="alert-stall-check")]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    def _post(self, body: bytes) -> int:
        req = urllib.request.Request(self.url, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:  # noqa: S310 - the user's URL
            return int(resp.status)

    async def _drain(self) -> None:
        while True:
            body = await self.queue.get()
            try:
                await asyncio.to_thread(self._post, body)
                self.metrics.alerts_sent.inc()
            except (OSError, urllib.error.URLError, ValueError) as exc:
                self.metrics.alerts_failed.inc()
                log.warning("alert webhook %s: %s", self.url, exc)

    async def _stalls(self) -> None:
        while True:
            await asyncio.sleep(STALL_CHECK_S)
            now = time.time()
            for run in self.aggregator.runs():
                run.check_stall(now)
