"""The dashboard redraws when a snapshot arrives (not on a fixed tick), and coalesces only
snapshots that arrive within 1/ui_hz of the last redraw."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import tui_client.app
from esper.sanctum.v2 import sanctum_pb2 as spb
from testkit import ThreadedSanctum, build_run_events
from tests.tui.helpers import wait_for
from tui_client.app import EsperTui
from tui_client.config import TuiOptions
from tui_client.messages import SnapshotReceived


class TimedTui(EsperTui):
    """Records when each snapshot arrived and when the newest one was drawn."""

    CSS_PATH = str(Path(tui_client.app.__file__).with_name("app.tcss"))

    def __init__(self, options: TuiOptions | None) -> None:
        super().__init__(options)
        self.arrived: list[float] = []
        self.applied: list[float] = []
        self.at_once: list[bool] = []

    def _apply_soon(self) -> None:  # once per received snapshot
        self.arrived.append(time.monotonic())
        drawn = len(self.applied)
        super()._apply_soon()
        self.at_once.append(len(self.applied) > drawn)  # drawn on arrival, not by a timer

    def _apply_pending(self) -> None:
        had = self._pending is not None
        super()._apply_pending()
        if had:
            self.applied.append(time.monotonic())


@pytest.fixture
def server() -> Iterator[ThreadedSanctum]:
    with ThreadedSanctum(max_hz=30.0) as s:
        yield s


async def test_idle_dashboard_redraws_on_arrival(server: ThreadedSanctum) -> None:
    """At 0.5 Hz a fixed tick would show each snapshot up to 2 s late: a snapshot that
    arrives 1/ui_hz or more after the last redraw is drawn as it arrives (in the arrival's
    own handler, whatever the machine's load; the lags are printed)."""
    events = build_run_events("arrive", n_batches=2)
    await asyncio.to_thread(server.ingest, events[:1])
    app = TimedTui(TuiOptions(server=server.address, run="arrive", max_hz=0.5))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: len(app.applied) >= 1, what="the first snapshot")
        # A loaded machine can deliver the first snapshot late and the next one on time:
        # send the next once the dashboard may redraw again.
        await wait_for(pilot, lambda: time.monotonic() >= app.applied[0] + 2.0,
                       what="1/ui_hz after the first redraw")
        await asyncio.to_thread(server.ingest, events[1:])
        await wait_for(pilot, lambda: app.snapshot is not None and app.snapshot.delivery
                       .events_applied == len(events), timeout=20, what="the second batch")
    lags = [min(a for a in app.applied if a >= r) - r for r in app.arrived]
    print(f"\nredrawn {[round(x, 3) for x in lags]} s after arrival")
    assert len(app.at_once) >= 2 and app.at_once[0] and app.at_once[-1], (
        app.at_once, app.arrived, app.applied)


async def test_burst_is_coalesced_to_the_display_rate() -> None:
    """Snapshots arriving faster than ui_hz: the first is drawn at once, the rest become one
    redraw of the newest, 1/ui_hz later."""
    app = TimedTui(TuiOptions(server="127.0.0.1:9", max_hz=2.0))
    app.subscribe = lambda *a, **k: None  # type: ignore[method-assign]  # no network here
    async with app.run_test(size=(120, 40)) as pilot:
        for n in range(1, 6):  # one burst: posted together, whatever the machine's load
            snap = spb.SanctumSnapshot()
            snap.delivery.events_applied = n
            app.post_message(SnapshotReceived(snap))
        await wait_for(pilot, lambda: app.snapshot is not None
                       and app.snapshot.delivery.events_applied == 5, what="the newest")
        await pilot.pause(0.6)  # no further redraw follows
    assert len(app.applied) == 2, app.applied
    assert app.applied[0] - app.arrived[0] < 0.4  # at once, not an interval later
    assert app.applied[1] - app.applied[0] >= 0.45  # 1/ui_hz = 0.5 s
