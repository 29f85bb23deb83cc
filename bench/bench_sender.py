"""The producer's background CPU per event and per send: IngestStream vs Ingest calls (not a
test).

A TelemetryClient (this process) emits 2,000 events/s (bench_freshness.Trainer) to a sanctum
process. Measured over the same seconds: the CPU of every thread of this process except the
emitting one and the main one (the sender, gRPC's threads, the ack reader), per 1,000 events
and per send. Interleaved rounds of: Ingest calls at the default send gap (the reference,
what the client did before IngestStream), IngestStream at the same gap, and IngestStream at
each smaller gap in GAPS, and IngestStream with 64 events per batch (the former default).

    python -m bench [--quick] sender
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from typing import Any

from bench import Row, register, row
from bench.bench_freshness import RATE, Trainer, streaming_client
from esper_client import TelemetryConfig

GAPS = (0.05, 0.02, 0.01)
DEFAULT_GAP = TelemetryConfig.send_gap_s


def _thread_cpu(thread: threading.Thread) -> float:
    assert thread.ident is not None
    return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))


def _round(tmp: str, name: str, seconds: float, **cfg: Any) -> tuple[float, float, float]:
    """(client-thread CPU ms per 1,000 events, us per send, sends/s) of one configuration."""
    with streaming_client(tmp, name, **cfg) as (_, client), Trainer(client) as trainer:
        time.sleep(0.5)  # settle
        emitter = trainer._thread
        sent0, calls0 = trainer.emitted, client._sender.stats.calls
        cpu0 = time.process_time() - _thread_cpu(emitter) - time.thread_time()
        time.sleep(seconds)
        cpu = time.process_time() - _thread_cpu(emitter) - time.thread_time() - cpu0
        events, calls = trainer.emitted - sent0, client._sender.stats.calls - calls0
    return cpu / events * 1e6, cpu / max(calls, 1) * 1e6, calls / seconds


def measure(quick: bool) -> dict[str, list[tuple[float, float, float]]]:
    seconds, rounds = (3.0, 1) if quick else (6.0, 3)
    configs: dict[str, dict[str, Any]] = {"ingest": {"ingest_stream": False,
                                                     "send_gap_s": DEFAULT_GAP}}
    for gap in GAPS:
        configs[f"stream-{gap * 1e3:g}ms"] = {"send_gap_s": gap}
    # 64 events per batch, the default before 256: a 50 ms send at this rate was two
    # messages and two acks.
    configs["stream-50ms-64ev"] = {"send_gap_s": 0.05, "batch_max_events": 64}
    out: dict[str, list[tuple[float, float, float]]] = {k: [] for k in configs}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            for key, cfg in configs.items():
                out[key].append(_round(tmp, f"{key}-{r}", seconds, **cfg))
    return out


@register("sender")
def bench_sender(quick: bool) -> list[Row]:
    data = measure(quick)

    def med(key: str, i: int) -> float:
        return statistics.median(v[i] for v in data[key])

    ref_ev, ref_send = med("ingest", 0), med("ingest", 1)
    ref = (f"Ingest calls, gap {DEFAULT_GAP * 1e3:g} ms: {ref_ev:.0f} ms/1k ev, "
           f"{ref_send:.0f} us/send")
    rows = []
    for key in data:
        if key == "ingest":
            continue
        rows.append(row(f"client threads CPU per 1k events, {key}, {RATE:,} ev/s",
                        med(key, 0), "ms", ref))
        rows.append(row(f"client threads CPU per send, {key} ({med(key, 2):.0f} sends/s)",
                        med(key, 1), "us", f"{ref_send:.0f} us with Ingest calls"))
    return rows
