"""Alerts leave the dashboard: per-run gauges on /metrics and the --alert-webhook POSTs,
against real servers (sanctum, and a local HTTP server as the webhook)."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from esper.sanctum.v2 import sanctum_pb2 as spb
from sanctum_svc.aggregator import Aggregator
from sanctum_svc.alerts import AlertWebhook
from sanctum_svc.cli import main as sanctum_main
from sanctum_svc.metrics import Metrics
from testkit import health_faults
from testkit.events import Producer
from testkit.servers import ThreadedSanctum
from testkit.wait import wait_for


class Hook:
    """A local webhook: records JSON bodies; answers `status`, optionally after `gate`."""

    def __init__(self, status: int = 200, gate: threading.Event | None = None) -> None:
        self.bodies: list[dict[str, Any]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if gate is not None:
                    gate.wait(30)
                hook.bodies.append(json.loads(body))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/alert"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    yield h
    h.close()


def _exploding_then_recovered() -> list[Any]:
    return health_faults.run(fault_at=30, updates=45, fault=lambda k, f: f.update(
        exploding_layers=2) if k < 33 else None)


def _metrics(server: ThreadedSanctum) -> dict[str, float]:
    assert server.server is not None and server.server.metrics_port
    url = f"http://127.0.0.1:{server.server.metrics_port}/metrics"
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    return {k: float(v) for k, v in (line.rsplit(" ", 1) for line in text.splitlines()
                                     if line and not line.startswith("#"))}


def test_webhook_gets_rising_and_falling_edges_and_gauges_show_the_run(hook: Hook) -> None:
    events = _exploding_then_recovered()
    run_id = events[0].run_id
    with ThreadedSanctum(metrics_port=0, alert_webhook=hook.url) as server:
        server.ingest(events[:-12])  # up to update 33: exploding is active
        wait_for(lambda: len(hook.bodies) == 1, what="the rising edge")
        rising = hook.bodies[0]
        assert rising["run_id"] == run_id and rising["edge"] == "rising"
        f = rising["finding"]
        assert (f["rule_id"], f["severity"], f["observed"]) == (
            "exploding_gradients", "SEVERITY_CRITICAL", 2.0)
        m = _metrics(server)
        key = f'esper_run_findings{{rule="exploding_gradients",run_id="{run_id}",' \
              'severity="critical"}'
        assert m[key] == 1.0
        assert m[f'esper_run_findings{{rule="kl_spike",run_id="{run_id}",severity="warning"}}'] \
            == 0.0
        assert 0 <= m[f'esper_run_seconds_since_last_event{{run_id="{run_id}"}}'] < 60
        assert "process_cpu_seconds_total" in m and any(k.startswith("python_info") for k in m)
        server.ingest(events[-12:])
        wait_for(lambda: len(hook.bodies) == 2, what="the falling edge")
        assert hook.bodies[1]["edge"] == "falling"
        assert hook.bodies[1]["finding"]["rule_id"] == "exploding_gradients"
        assert _metrics(server)[key] == 0.0
        # Counted once the webhook has answered, a moment after it got the body.
        wait_for(lambda: _metrics(server)["esper_alerts_sent_total"] == 2.0,
                 what="two sent alerts counted")


def test_gauges_carry_episodes_and_reward() -> None:
    p = Producer("rewarded")
    p.started()
    p.batch(3, avg_reward=1.25, done=12)
    with ThreadedSanctum(metrics_port=0) as server:
        server.ingest(p.events)
        m = _metrics(server)
    assert m['esper_run_episodes{run_id="rewarded"}'] == 12.0
    assert m['esper_run_reward{run_id="rewarded"}'] == 1.25


def test_a_hung_webhook_never_slows_ingest() -> None:
    """The webhook answers nothing until released: every batch is still acknowledged, and
    the server keeps serving snapshots, while the alert POST hangs."""
    gate = threading.Event()
    slow = Hook(gate=gate)
    try:
        events = _exploding_then_recovered()
        with ThreadedSanctum(alert_webhook=slow.url) as server:
            resp = server.ingest(events, batch_size=4)
            assert not gate.is_set() and slow.bodies == []  # the POST is still hanging
            assert resp.events_applied == len(events)
            snap = server.snapshot(events[0].run_id)
            assert snap.health.evaluated_updates == 45
            gate.set()
            wait_for(lambda: len(slow.bodies) == 2, what="both edges")
    finally:
        gate.set()
        slow.close()


def test_a_failing_webhook_is_counted_and_ingest_goes_on() -> None:
    failing = Hook(status=500)
    try:
        events = _exploding_then_recovered()
        with ThreadedSanctum(metrics_port=0, alert_webhook=failing.url) as server:
            server.ingest(events)
            wait_for(lambda: _metrics(server).get("esper_alerts_failed_total") == 2.0,
                     what="two failed deliveries counted")
            assert server.snapshot(events[0].run_id).health.evaluated_updates == 45
    finally:
        failing.close()


def test_full_queue_drops_and_counts_without_blocking() -> None:
    async def main() -> tuple[int, float]:
        metrics = Metrics()
        hookq = AlertWebhook("http://127.0.0.1:9/unused", metrics, Aggregator(), queue_size=2)
        finding = spb.HealthFinding(rule_id="stall")
        for _ in range(5):  # no task drains: the queue fills, offer() returns at once
            hookq.offer("r", finding, True)
        return hookq.queue.qsize(), metrics.alerts_dropped._value.get()

    assert asyncio.run(main()) == (2, 3.0)


def test_bad_webhook_url_is_a_clear_error() -> None:
    assert sanctum_main(["serve", "--alert-webhook", "ftp://x", "--store", ":memory:"]) != 0
