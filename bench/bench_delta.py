"""Incremental snapshots: bytes per update and fan-out cost, deltas vs full (not a test).

delta_size: the real aggregator fed the original's 12-env mix (testkit.original_mix) as a
    trainer at R events/s watched at 10 Hz would see it (R/10 events between updates); per
    update, the full WatchSnapshotsResponse vs the SnapshotDelta from the previous one, both
    serialized (the reference is the full size in the same run), the delta gzipped as a
    `compressed` stream sends it (zlib level 6; the mix's synthetic values compress better
    than a real run's), and the client's cost to apply one. The same for
    testkit.events.realistic_run at 12 envs (seeded random values at full precision, as a
    real trainer sends them: they compress about half as well). Goal (issue 15): <= 3 KB
    per update at 12 envs, on the wire (the gzipped rows: what the TUI receives).
delta_fanout: 256 subscribers (another process) at 10 Hz on one sanctum process while the
    mix streams at 2,000 events/s, full snapshots and deltas in interleaved rounds: updates
    delivered per subscriber per second, event -> subscriber latency p99 (from the Ingest call
    carrying an event to the first update holding it; it includes the wait for the
    subscriber's next 100 ms slot), bytes per update, and the server's CPU (s per s).

    python -m bench [--quick] delta_size delta_fanout
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import zlib
from pathlib import Path

from bench import Row, percentile, register, row
from bench.live import Feeder, SubscriberProcess, latencies, rate
from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_common.delta import apply_delta
from sanctum_svc.aggregator import RunAggregator
from sanctum_svc.delta import build_delta
from testkit import SanctumProcess
from testkit.events import realistic_run
from testkit.original_mix import original_mix

GOAL_BYTES = 3000
HZ = 10.0
FAN_RATE = 2000
FAN_SUBS = 256


def update_sizes(events: list[tpb.TelemetryEvent], rate: int, hz: float = HZ
                 ) -> tuple[list[int], list[int], list[int], list[float]]:
    """(full bytes, delta bytes, gzipped delta bytes, apply seconds) per update over
    `events` (one run) streamed at `rate` ev/s."""
    step = max(1, int(rate / hz))
    agg = RunAggregator(events[0].run_id)
    fulls: list[int] = []
    deltas: list[int] = []
    gzipped: list[int] = []
    applies: list[float] = []
    prev = held = None
    t0 = 1_700_000_000.0
    for i in range(0, len(events), step):
        now = t0 + i / rate
        agg.apply_many(events[i:i + step], now)
        snap = agg.snapshot(now + 0.001)
        if prev is not None and held is not None and i >= 1000:  # past the run's start
            delta = build_delta(prev, snap)
            started = time.perf_counter()
            held = apply_delta(held, delta)
            applies.append(time.perf_counter() - started)
            fulls.append(spb.WatchSnapshotsResponse(snapshot=snap).ByteSize())
            encoded = spb.WatchSnapshotsResponse(delta=delta).SerializeToString()
            deltas.append(len(encoded))
            gzipped.append(len(zlib.compress(encoded, 6)))
        else:
            held = snap
        prev = snap
    return fulls, deltas, gzipped, applies


@register("delta_size")
def bench_delta_size(quick: bool) -> list[Row]:
    rows = []
    streams = {"original mix": original_mix("size", n_batches=1 if quick else 2),
               "realistic run": realistic_run(8 if quick else 16, n_envs=12, epochs=25,
                                              seed=3)}
    for label, events in streams.items():
        for ev_s in (200, 2000):
            fulls, deltas, gzipped, applies = update_sizes(events, ev_s)
            mean, packed = statistics.mean(deltas), statistics.mean(gzipped)
            where = f"12 envs, {label} {ev_s:,} ev/s @{HZ:g} Hz"
            rows += [
                row(f"bytes/update, delta, {where}", mean, "bytes",
                    f"full {statistics.mean(fulls):,.0f} bytes; delta p95 "
                    f"{percentile([float(d) for d in deltas], 0.95):,.0f}; apply "
                    f"{statistics.mean(applies) * 1e3:.2f} ms", "", None),
                row(f"bytes/update, delta gzipped, {where}", packed, "bytes",
                    f"full {statistics.mean(fulls):,.0f} bytes", f"<= {GOAL_BYTES:,}",
                    packed <= GOAL_BYTES)]
    return rows


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fan_round(tmp: str, name: str, incremental: bool, seconds: float,
              events: list[tpb.TelemetryEvent]) -> dict[str, float]:
    """One round of FAN_SUBS subscribers at HZ while the mix streams at FAN_RATE ev/s."""
    with SanctumProcess(str(Path(tmp) / f"{name}.sqlite")) as server:
        feeder = Feeder(server.address, name, chunk=FAN_RATE // 20, period_s=0.05,
                        events=events)
        feeder.send(100)
        assert server.proc is not None
        with SubscriberProcess(server.address, name, FAN_SUBS, HZ, incremental) as subs:
            feeder.start()
            time.sleep(1.0)  # settle
            start, cpu0, first = time.monotonic(), _cpu_s(server.proc.pid), len(feeder.marks)
            time.sleep(seconds)
            end, cpu1, last = time.monotonic(), _cpu_s(server.proc.pid), len(feeder.marks)
            time.sleep(0.5)
            feeder.stop()
            arrivals = subs.stop()
    lat, _, missing = latencies(arrivals, feeder.marks[first:last], HZ)
    updates = sum(len(a) for a in arrivals)
    return {"rate": statistics.mean(rate(a, start, end) for a in arrivals),
            "p99": percentile(lat, 0.99) * 1e3, "p50": percentile(lat, 0.5) * 1e3,
            "cpu": (cpu1 - cpu0) / (end - start), "bytes": sum(subs.received) / updates,
            "missing": missing}


@register("delta_fanout")
def bench_delta_fanout(quick: bool) -> list[Row]:
    seconds, rounds = (4.0, 1) if quick else (8.0, 2)
    n_batches = max(2, int(FAN_RATE * (seconds + 3) * rounds / 3830) + 1)
    results: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            for incremental in (False, True):
                name = f"{'delta' if incremental else 'full'}-{r}"
                events = original_mix(name, n_batches=n_batches)
                results[incremental].append(fan_round(tmp, name, incremental, seconds, events))
    full, delta = ({k: statistics.mean(x[k] for x in results[m]) for k in results[m][0]}
                   for m in (False, True))
    where = f"{FAN_SUBS} subs @{HZ:g} Hz, mix at {FAN_RATE:,} ev/s"
    return [
        row(f"updates/s per subscriber, deltas, {where}", delta["rate"], "/s",
            f"full {full['rate']:.2f}/s", f"{HZ:g}/s asked", None),
        row(f"event -> subscriber p99, deltas, {where}", delta["p99"], "ms",
            f"full {full['p99']:.0f} ms (p50 {full['p50']:.0f}; deltas p50 "
            f"{delta['p50']:.0f})", "", None),
        row(f"server CPU, deltas, {where}", delta["cpu"], "s/s",
            f"full {full['cpu']:.2f} s/s", "", None),
        row(f"bytes/update on the stream, deltas (no gzip), {where}", delta["bytes"],
            "bytes", f"full {full['bytes']:,.0f} bytes", "", None),
    ]
