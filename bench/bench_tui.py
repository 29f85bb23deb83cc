"""esper-tui benchmarks: full snapshot render, sustained 10 Hz updates, key-press latency.

    .venv/bin/python -m bench.bench_tui [--quick]

Runs the real app headless (Textual's pilot) on a 16 env × 3 slot snapshot with decision
cards and host vitals, in the wide (160×50) grid layout. Key-press
latency is measured idle (the reference) and while snapshots stream in at 10 Hz and at
100 Hz (conflated to the 10 Hz display rate); the goal is < 100 ms under load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

from textual import events

from bench import Row, register, row
from esper.sanctum.v2 import sanctum_pb2 as spb
from testkit.snapshots import NOW, sample_snapshot
from tui_client.app import EsperTui
from tui_client.messages import SnapshotReceived
from tui_client.renderables.banner import banner_text
from tui_client.renderables.decisions import group_decisions
from tui_client.renderables.delivery import delivery_text
from tui_client.renderables.event_log import log_text
from tui_client.renderables.groups import group_of
from tui_client.renderables.heads import heads_text
from tui_client.renderables.ppo import ppo_text
from tui_client.renderables.vitals import vitals_text
from tui_client.widgets.env_table import EnvTable

SIZE = (160, 50)


def _variant(base: spb.SanctumSnapshot, k: int) -> spb.SanctumSnapshot:
    """A copy whose values change every time, so every cell really redraws."""
    snap = spb.SanctumSnapshot()
    snap.CopyFrom(base)
    snap.version = k
    snap.tamiyo.groups[0].last_update.kl_divergence = 0.001 * (k % 50)
    for env in snap.envs.envs:
        env.last_epoch.val_accuracy = 50.0 + (k + env.env_id) % 40
        env.last_epoch.reward = 0.001 * k
    return snap


def _ms(samples: list[float]) -> dict[str, float]:
    samples = sorted(samples)
    return {
        "median_ms": round(statistics.median(samples) * 1e3, 3),
        "p95_ms": round(samples[int(0.95 * (len(samples) - 1))] * 1e3, 3),
        "max_ms": round(samples[-1] * 1e3, 3),
        "n": len(samples),
    }


def bench_renderables(base: spb.SanctumSnapshot, n: int) -> dict[str, Any]:
    """Pure drawing cost of every panel's renderable (no App, no terminal)."""
    times = []
    for k in range(n):
        snap = _variant(base, k)
        t0 = time.perf_counter()
        group = group_of(snap, None)
        banner_text(snap, group)
        heads_text(snap, group)
        ppo_text(snap, group, 70)
        log_text(snap)
        delivery_text(snap, 0.1, 0.2, 40)
        vitals_text(snap, 40)
        group_decisions(snap, group, 40)
        times.append(time.perf_counter() - t0)
    return _ms(times)


async def _next_refresh(app: EsperTui) -> float:
    """perf_counter() at the app's next screen refresh (after pending layout/paint)."""
    done: asyncio.Future[float] = asyncio.get_running_loop().create_future()

    def refreshed() -> None:
        if not done.done():
            done.set_result(time.perf_counter())

    app.call_after_refresh(refreshed)
    return await done


async def key_latency(app: EsperTui, table: EnvTable, key: str) -> float:
    """Key event in (as the terminal driver posts it) -> cursor moved -> screen refreshed.

    Measured directly rather than with pilot.press/pause, whose idle detection compares
    process CPU time with wall time and so waits for the whole process to go quiet.
    """
    before = table.cursor_row
    t0 = time.perf_counter()
    app.post_message(events.Key(key, key))
    while table.cursor_row == before:
        await asyncio.sleep(0.0005)
    return await _next_refresh(app) - t0


async def bench_full_update(base: spb.SanctumSnapshot, n: int) -> dict[str, Any]:
    """apply_snapshot (all widgets) until the screen has repainted."""
    app = EsperTui(clock=lambda: NOW)
    times = []
    async with app.run_test(size=SIZE) as pilot:
        app.apply_snapshot(base)
        await pilot.pause()
        for k in range(n):
            snap = _variant(base, k + 2)
            await asyncio.sleep(0.02)  # let the previous frame finish
            t0 = time.perf_counter()
            app.apply_snapshot(snap)
            times.append(await _next_refresh(app) - t0)
    return _ms(times)


async def bench_stream(base: spb.SanctumSnapshot, feed_hz: float, seconds: float) -> dict:
    """Snapshots arrive at `feed_hz` while j/k are pressed; returns redraw rate + latency."""
    app = EsperTui(clock=lambda: NOW)
    latencies: list[float] = []
    async with app.run_test(size=SIZE) as pilot:
        app.apply_snapshot(base)
        await pilot.pause()
        app.env_table.move_cursor(row=0)
        start_applied = app.applied_versions
        stop = asyncio.Event()

        async def feed() -> int:
            k, period, t_next = 0, 1.0 / feed_hz, time.perf_counter()
            while not stop.is_set():
                k += 1
                app.post_message(SnapshotReceived(_variant(base, k + 10)))
                t_next += period
                await asyncio.sleep(max(0.0, t_next - time.perf_counter()))
            return k

        task = asyncio.create_task(feed()) if feed_hz > 0 else None
        table = app.query_one(EnvTable)
        t_start = time.perf_counter()
        i = 0
        while time.perf_counter() - t_start < seconds:
            key = "j" if (i // 8) % 2 == 0 else "k"
            latencies.append(await key_latency(app, table, key))
            i += 1
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - t_start
        stop.set()
        sent = await task if task else 0
        applied = app.applied_versions - start_applied
    return {
        "feed_hz": feed_hz,
        "snapshots_sent": sent,
        "redraws_per_s": round(applied / elapsed, 2),
        "key_latency": _ms(latencies),
    }


async def run(quick: bool = False) -> dict[str, Any]:
    base = sample_snapshot(n_envs=16, n_slots=3)
    n = 30 if quick else 150
    seconds = 1.5 if quick else 5.0
    results: dict[str, Any] = {
        "snapshot_bytes": base.ByteSize(),
        "renderables_only": bench_renderables(base, n),
        "full_update_render": await bench_full_update(base, n),
        "idle_reference": await bench_stream(base, 0, seconds),
        "stream_10hz": await bench_stream(base, 10, seconds),
        "stream_100hz_conflated": await bench_stream(base, 100, seconds),
    }
    worst = max(
        results[k]["key_latency"]["p95_ms"] for k in ("stream_10hz", "stream_100hz_conflated")
    )
    results["key_latency_goal_met"] = worst < 100.0
    return results


@register("tui")
def bench_tui(quick: bool) -> list[Row]:
    r = asyncio.run(run(quick))
    idle = r["idle_reference"]["key_latency"]["p95_ms"]
    rows = [
        row(
            "tui: render panels of one snapshot (16 envs x 3 slots), median",
            r["renderables_only"]["median_ms"],
            "ms",
            f"{r['snapshot_bytes']:,} bytes",
            "",
            None,
        ),
        row(
            "tui: full snapshot update until repainted, median",
            r["full_update_render"]["median_ms"],
            "ms",
            f"p95 {r['full_update_render']['p95_ms']} ms",
            "",
            None,
        ),
    ]
    for key, label in (("stream_10hz", "10 Hz"), ("stream_100hz_conflated", "100 Hz conflated")):
        s = r[key]
        p95 = s["key_latency"]["p95_ms"]
        rows.append(
            row(
                f"tui: key -> screen p95, snapshots at {label}",
                p95,
                "ms",
                f"idle {idle} ms",
                "< 100 ms",
                p95 < 100.0,
            )
        )
        rows.append(
            row(
                f"tui: redraws/s, snapshots at {label}",
                s["redraws_per_s"],
                "/s",
                f"{s['snapshots_sent']} sent",
                "",
                None,
            )
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations (CI smoke)")
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(run(args.quick)), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
