"""What the client's sender costs the emitting process: a thread vs a child process
(TelemetryConfig.sender_process), and how built events best cross to the child (not a test).

(a) Hand-over encoding, per event, on the realistic run mix (testkit.build_run_events):
    serialized bytes in a pickled list (what process mode does) vs the messages pickled.
(b) A TelemetryClient emits 2,000 events/s (bench_freshness.Trainer) to a sanctum process,
    interleaved rounds of thread and process mode. Measured over the same seconds: CPU of
    the emitting process's threads other than the emitter and the main one (the sender and
    gRPC's threads, or the writer thread), and the child's CPU, per 1,000 events. The first
    is what competes with training for the training process's GIL.

    python -m bench [--quick] sidecar
"""

from __future__ import annotations

import pickle
import statistics
import tempfile
import time

from bench import Row, register, row
from bench.bench_freshness import RATE, Trainer, streaming_client
from bench.bench_sender import _thread_cpu
from testkit import build_run_events


def encoding_us(repeats: int) -> tuple[float, float]:
    """(bytes, messages): µs per event to make one pickled frame of a send's events."""
    events = build_run_events("bench", "p", completed=True, n_batches=4)
    best_bytes = best_msgs = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        pickle.dumps([(e.seq, 0, e.SerializeToString()) for e in events], protocol=5)
        t1 = time.perf_counter()
        pickle.dumps([(e, 0) for e in events], protocol=5)
        t2 = time.perf_counter()
        best_bytes, best_msgs = min(best_bytes, t1 - t0), min(best_msgs, t2 - t1)
    return best_bytes / len(events) * 1e6, best_msgs / len(events) * 1e6


def _round(tmp: str, name: str, seconds: float, process: bool) -> tuple[float, float]:
    """(in-process client CPU, child CPU), ms per 1,000 events."""
    with streaming_client(tmp, name, sender_process=process) as (_, client), \
            Trainer(client) as trainer:
        time.sleep(0.5)  # settle
        emitter = trainer._thread
        sidecar = client._sidecar

        def child_s() -> float:
            return sidecar.stats()["cpu_ns"] / 1e9 if sidecar is not None else 0.0

        n0, child0 = trainer.emitted, child_s()
        cpu0 = time.process_time() - _thread_cpu(emitter) - time.thread_time()
        time.sleep(seconds)
        cpu = time.process_time() - _thread_cpu(emitter) - time.thread_time() - cpu0
        child, events = child_s() - child0, trainer.emitted - n0
    return cpu / events * 1e6, child / events * 1e6


@register("sidecar")
def bench_sidecar(quick: bool) -> list[Row]:
    as_bytes, as_msgs = encoding_us(20 if quick else 100)
    rows = [row("hand-over encoding per built event, bytes in a pickled list", as_bytes, "us",
                f"messages pickled: {as_msgs:.2f} us")]
    seconds, rounds = (3.0, 2) if quick else (6.0, 5)
    data: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            for process in (False, True):
                data[process].append(_round(tmp, f"sidecar-{process}-{r}", seconds, process))

    def med(process: bool, i: int) -> float:
        return statistics.median(v[i] for v in data[process])

    ref = f"sender thread: {med(False, 0):.1f} ms/1k ev ({rounds} rounds, medians)"
    rows.append(row(f"in-process client CPU per 1k events, sender process, {RATE:,} ev/s",
                    med(True, 0), "ms", ref))
    rows.append(row(f"sender process CPU per 1k events, {RATE:,} ev/s", med(True, 1), "ms",
                    ref))
    return rows
