"""Fan-out benchmarks against a real sanctum process (not tests).

fanout: while a producer ingests a chunk of events every 50 ms, N subscribers (1, 32, 128,
    in a separate process) watch the run at 10 Hz. Rows: snapshots/s delivered (reference:
    N x 10 requested) and event -> screen-data latency p50/p99: from the start of the Ingest
    call carrying an event to the first snapshot a subscriber receives that includes it.
    At 10 Hz a subscriber is sent at most one snapshot per 100 ms, so an event can wait up to
    100 ms for its subscriber's next slot: that wait is in the figure (so p99 sits at about
    100 ms plus the server's own delay, shown on its own row as the time beyond that slot).
    Goal: p99 <= 100 ms at 32 subscribers.
slow_subscriber: one subscriber stops reading for 30 s (quick: 4 s) while 4 others read on.
    Rows: its staleness on resume (time from resuming to the first snapshot that includes
    every event accepted before it resumed; goal <= 1 s), the messages it read to get there,
    server RSS growth over the stall (goal < 10 MB), and the others' rate during the stall vs
    before it (goal >= 90 %).

    python -m bench [--quick] fanout slow_subscriber
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench import Row, percentile, register, row, rss_bytes
from bench.live import Feeder, SubscriberProcess, latencies, rate
from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.sanctum.v2 import sanctum_pb2_grpc
from esper_common.channel import ChannelConfig, sync_channel
from testkit import SanctumProcess

HZ = 10.0
LATENCY_GOAL_MS = 100.0
STALENESS_GOAL_S = 1.0
RSS_GOAL_MB = 10.0


def _fanout_one(n: int, seconds: float, tmp: str) -> list[Row]:
    with SanctumProcess(str(Path(tmp) / f"fan-{n}.sqlite")) as server:
        feeder = Feeder(server.address, "fan")
        feeder.send(16)  # the run exists before anyone subscribes
        with SubscriberProcess(server.address, "fan", n, HZ) as subs:
            feeder.start()
            time.sleep(0.5)  # settle: every stream in its steady state
            start = time.monotonic()
            first_mark = len(feeder.marks)
            time.sleep(seconds)
            end = time.monotonic()
            last_mark = len(feeder.marks)
            time.sleep(0.5)  # let the last marked events reach everyone
            feeder.stop()
            arrivals = subs.stop()
    lat, beyond, missing = latencies(arrivals, feeder.marks[first_mark:last_mark], HZ)
    delivered = sum(rate(a, start, end) for a in arrivals)
    p50, p99 = percentile(lat, 0.5) * 1e3, percentile(lat, 0.99) * 1e3
    goal = n == 32
    return [
        row(f"fan-out: snapshots/s delivered, {n} subscriber(s)", delivered, "/s",
            f"{n * HZ:g}/s asked", "", None),
        row(f"fan-out: event -> screen data p50, {n} sub(s) @10 Hz", p50, "ms",
            f"{len(lat)} deliveries", "", None),
        row(f"fan-out: event -> screen data p99, {n} sub(s) @10 Hz", p99, "ms",
            f"{missing} never seen; 100 ms slot", f"<= {LATENCY_GOAL_MS:g} ms" if goal else "",
            (p99 <= LATENCY_GOAL_MS and missing == 0) if goal else None),
        row(f"fan-out: ... p99 beyond the 10 Hz slot wait, {n} sub(s)",
            percentile(beyond, 0.99) * 1e3, "ms", "server + transport + decode", "", None),
    ]


@register("fanout")
def bench_fanout(quick: bool) -> list[Row]:
    seconds = 2.5 if quick else 10.0
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (1, 32, 128):
            rows += _fanout_one(n, seconds, tmp)
    return rows


@register("slow_subscriber")
def bench_slow_subscriber(quick: bool) -> list[Row]:
    stall_s = 4.0 if quick else 30.0
    before_s = 2.0 if quick else 5.0
    with tempfile.TemporaryDirectory() as tmp, \
            SanctumProcess(str(Path(tmp) / "slow.sqlite")) as server:
        assert server.proc is not None
        pid = server.proc.pid
        feeder = Feeder(server.address, "slow")
        feeder.send(16)
        channel = sync_channel(ChannelConfig(server.address, subscriber=True))
        try:
            with SubscriberProcess(server.address, "slow", 4, HZ) as others:
                stalled = sanctum_pb2_grpc.SanctumServiceStub(channel).WatchSnapshots(
                    spb.WatchSnapshotsRequest(run_id="slow", max_hz=HZ))
                next(stalled)
                feeder.start()
                t_before = time.monotonic()
                time.sleep(before_s)  # others' rate before the stall; stalled one reads on
                # (it has read nothing since its first message: its stall starts now, when its
                # transport buffers have long filled at 10 Hz of snapshots)
                t_stall = time.monotonic()
                rss0 = rss_peak = rss_bytes(pid)
                while time.monotonic() - t_stall < stall_s:
                    time.sleep(0.25)
                    rss_peak = max(rss_peak, rss_bytes(pid))
                t_resume = time.monotonic()
                target = feeder.accepted
                read = 0
                staleness = float("inf")
                for msg in stalled:
                    read += 1
                    if msg.HasField("snapshot") and msg.snapshot.delivery.events_applied >= target:
                        staleness = time.monotonic() - t_resume
                        break
                    if time.monotonic() - t_resume > 10:
                        break
                stalled.cancel()
                feeder.stop()
                arrivals = others.stop()
        finally:
            channel.close()
    before = sum(rate(a, t_before, t_stall) for a in arrivals) / len(arrivals)
    during = sum(rate(a, t_stall, t_resume) for a in arrivals) / len(arrivals)
    growth_mb = (rss_peak - rss0) / 2**20
    return [
        row(f"slow subscriber: staleness on resume after {stall_s:g} s stall", staleness, "s",
            f"{read} message(s) read", f"<= {STALENESS_GOAL_S:g} s",
            staleness <= STALENESS_GOAL_S),
        row(f"slow subscriber: server RSS growth over the {stall_s:g} s stall", growth_mb, "MB",
            f"{rss0 / 2**20:,.0f} MB at start", f"< {RSS_GOAL_MB:g} MB", growth_mb < RSS_GOAL_MB),
        row("slow subscriber: others' snapshots/s during the stall", during, "/s",
            f"{before:.3g}/s before", ">= 90% of before", during >= 0.9 * before),
    ]
