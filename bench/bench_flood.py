"""Ingest latency of a legitimate producer while a hostile one floods new producer ids.

One sanctum process (file store). The legitimate producer sends one 16-event batch per Ingest call
and records each call's latency; first alone (quiet), then while another client streams
batches of 1,000 events, each with a producer id never seen (refused once the run's
producer cap is reached, and then with new run ids until the run cap). Rounds alternate
quiet and flood; the goal is p99 under flood within 2x of the quiet p99 of the same run.
The flood is one client sending call after call (each refused call waits
ServerConfig.refusal_delay_s); many concurrent flooding connections are a matter of
connection limits, not measured here.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
import time
from pathlib import Path

import grpc

from bench import Row, register, row
from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.sanctum.v2 import sanctum_pb2_grpc
from esper.telemetry.v1 import telemetry_pb2 as tpb
from testkit import SanctumProcess, build_run_events


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def _legit(address: str, events: list[tpb.TelemetryEvent], start: int, n: int) -> list[float]:
    out = []
    with grpc.insecure_channel(address) as ch:
        stub = sanctum_pb2_grpc.SanctumServiceStub(ch)
        for k in range(start, start + n):
            batch = tpb.EventBatch(events=events[k * 16:(k + 1) * 16])
            t0 = time.perf_counter()
            stub.Ingest(iter([spb.IngestRequest(batch=batch)]), timeout=60)
            out.append(time.perf_counter() - t0)
    return out


def _flood_requests(n_batches: int) -> list[bytes]:
    """Serialized IngestRequests of 1,000 events, each from a new producer id (built before
    timing: the flood client must not compete with the legitimate one for the CPU)."""
    payload = tpb.SystemVitalsPayload(cpu_percent=1.0)
    out = []
    for b in range(n_batches):
        events = [tpb.TelemetryEvent(run_id=f"hostile-{b // 4}", producer_id=f"flood-{b}-{i}",
                                     seq=1, event_type=tpb.EVENT_TYPE_SYSTEM_VITALS,
                                     system_vitals=payload) for i in range(1000)]
        out.append(spb.IngestRequest(batch=tpb.EventBatch(events=events)).SerializeToString())
    return out


def _flood(address: str, requests: list[bytes], stop: threading.Event,
           sent: list[int]) -> None:
    with grpc.insecure_channel(address) as ch:
        ingest = ch.stream_unary("/esper.sanctum.v2.SanctumService/Ingest",
                                 request_serializer=None,
                                 response_deserializer=spb.IngestResponse.FromString)
        k = 0
        while not stop.is_set():
            with contextlib.suppress(grpc.RpcError):  # refused by a cap, as it should be
                ingest(iter([requests[k % len(requests)]]), timeout=60)
            k += 1
            sent[0] += 1


@register("sanctum_flood")
def bench_flood(quick: bool) -> list[Row]:
    rounds, per_round = (2, 40) if quick else (4, 100)
    events = build_run_events("legit", n_batches=rounds * per_round * 2)
    requests = _flood_requests(40)
    quiet: list[float] = []
    flood: list[float] = []
    sent = [0]
    with tempfile.TemporaryDirectory() as tmp, \
            SanctumProcess(store=str(Path(tmp) / "flood.sqlite")) as server:
        k = 0
        for _ in range(rounds):
            quiet += _legit(server.address, events, k, per_round)
            k += per_round
            stop = threading.Event()
            t = threading.Thread(target=_flood, args=(server.address, requests, stop, sent),
                                 daemon=True)
            t.start()
            time.sleep(0.2)
            flood += _legit(server.address, events, k, per_round)
            k += per_round
            stop.set()
            t.join(60)
    q99, f99 = _pct(quiet, 0.99) * 1e3, _pct(flood, 0.99) * 1e3
    ratio = f99 / q99
    return [
        row("legit ingest p99, quiet", q99, "ms", f"{len(quiet)} calls of 16 events"),
        row("legit ingest p99, producer-id flood", f99, "ms",
            f"{sent[0]} flood batches of 1,000 new producer ids"),
        row("flood p99 / quiet p99", ratio, "x", f"p50 {_pct(flood, .5) * 1e3:.1f} vs "
            f"{_pct(quiet, .5) * 1e3:.1f} ms", "<= 2x", ratio <= 2.0),
    ]
