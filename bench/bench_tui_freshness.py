"""Freshness from the trainer's emit() to the TUI's repaint, with Textual's pilot (not a test).

A TelemetryClient emits 2,000 events/s to a sanctum process (bench_freshness.Trainer) while
`esper-tui` (EsperTui under `run_test`, headless, default options: 20 snapshots/s asked,
redraw on arrival) watches the run. A repaint is the moment Textual hands the composed
update to its driver (App._display); its latency for every 10th event is from emit() to the
first repaint that shows a snapshot including it. The reference in the same run is the old
behaviour: 4 snapshots/s asked and the old 200 ms producer flush (send_gap_s = 0.2).
Goal (issue 15): p99 <= 100 ms. The trainer shares this process with the TUI.

    python -m bench [--quick] tui_freshness
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import tui_client.app
from bench import Row, percentile, register, row
from bench.bench_freshness import Trainer, streaming_client
from bench.live import latencies
from tui_client.app import EsperTui
from tui_client.config import TuiOptions

GOAL_MS = 100.0


class RepaintClock(EsperTui):
    """Records (time, events applied in the shown snapshot) at every repaint."""

    CSS_PATH = str(Path(tui_client.app.__file__).with_name("app.tcss"))

    def __init__(self, options: TuiOptions) -> None:
        super().__init__(options)
        self.repaints: list[tuple[float, int]] = []

    def _display(self, screen: Any, renderable: Any) -> None:
        super()._display(screen, renderable)
        if renderable is not None and self.snapshot is not None:
            self.repaints.append((time.monotonic(), self.snapshot.delivery.events_applied))


async def _watch(address: str, run_id: str, max_hz: float, trainer: Trainer,
                 seconds: float) -> tuple[list[tuple[float, int]], int, int]:
    app = RepaintClock(TuiOptions(server=address, run=run_id, max_hz=max_hz))
    async with app.run_test(size=(140, 45)) as pilot:
        deadline = time.monotonic() + 30
        while not app.repaints and time.monotonic() < deadline:
            await pilot.pause(0.05)
        with trainer:
            await asyncio.sleep(0.5)
            first = len(trainer.marks)
            await asyncio.sleep(seconds)
            last = len(trainer.marks)
            await asyncio.sleep(0.5)
    return app.repaints, first, last


def _round(tmp: str, name: str, seconds: float, max_hz: float, **cfg: Any) -> list[float]:
    with streaming_client(tmp, name, **cfg) as (server, client):
        trainer = Trainer(client)
        repaints, first, last = asyncio.run(
            _watch(server.address, name, max_hz, trainer, seconds))
    lat, _, _ = latencies([repaints], trainer.marks[first:last], max_hz)
    return lat


@register("tui_freshness")
def bench_tui_freshness(quick: bool) -> list[Row]:
    seconds, rounds = (3.0, 1) if quick else (6.0, 3)
    new: list[float] = []
    old: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            new += _round(tmp, f"tui-new-{r}", seconds, TuiOptions().max_hz)
            old += _round(tmp, f"tui-old-{r}", seconds, 4.0, send_gap_s=0.2)
    p50, p99 = percentile(new, 0.5) * 1e3, percentile(new, 0.99) * 1e3
    ref50, ref99 = percentile(old, 0.5) * 1e3, percentile(old, 0.99) * 1e3
    return [
        row("emit() -> TUI repaint p50 (pilot, 2,000 ev/s)", p50, "ms",
            f"{ref50:.0f} ms at 4 Hz + 200 ms flush", "", None),
        row("emit() -> TUI repaint p99 (pilot, 2,000 ev/s)", p99, "ms",
            f"{ref99:.0f} ms at 4 Hz + 200 ms flush", f"<= {GOAL_MS:g} ms", p99 <= GOAL_MS),
    ]
