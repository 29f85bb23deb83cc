"""The real app against a real sanctum on loopback: content, run picker, auth, reconnect."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Static

from esper.telemetry.v1 import telemetry_pb2 as tpb
from testkit import ThreadedSanctum, build_run_events
from tests.certs import make_cert
from tests.tui.helpers import screen_text, wait_for
from tui_client.app import EsperTui
from tui_client.config import TuiOptions
from tui_client.connection import Backoff
from tui_client.screens.help import HelpScreen
from tui_client.screens.run_picker import RunPickerScreen
from tui_client.widgets.env_table import EnvTable

FAST = Backoff(initial=0.1, factor=2.0, maximum=0.4)


def culled_seed_events(run_id: str, start_seq: int) -> list[tpb.TelemetryEvent]:
    """After the last batch barrier: env 1 germinates a lora seed in r0c1, then it is culled
    while blending, with its counterfactual contribution measured."""
    common = {"run_id": run_id, "producer_id": "trainer-0", "env_id": 1}
    events = [
        tpb.TelemetryEvent(
            seq=start_seq,
            event_type=tpb.EVENT_TYPE_SEED_GERMINATED,
            seed_germinated=tpb.SeedGerminatedPayload(
                slot_id="r0c1", blueprint_id="lora", seed_id="seed-z", params=9000
            ),
            **common,
        ),
        tpb.TelemetryEvent(
            seq=start_seq + 1,
            event_type=tpb.EVENT_TYPE_SEED_CULLED,
            severity=tpb.SEVERITY_WARNING,
            seed_pruned=tpb.SeedPrunedPayload(
                slot_id="r0c1",
                blueprint_id="lora",
                reason="no improvement",
                from_stage=tpb.SEED_STAGE_BLENDING,
                counterfactual=0.0125,
            ),
            **common,
        ),
    ]
    for ev in events:
        ev.timestamp.GetCurrentTime()
    return events


def full_run(run_id: str) -> list[tpb.TelemetryEvent]:
    events = build_run_events(run_id, n_batches=3)
    return events + culled_seed_events(run_id, len(events) + 1)


@pytest.fixture
def server() -> Iterator[ThreadedSanctum]:
    with ThreadedSanctum(heartbeat_s=0.2) as s:
        yield s


def _options(server: ThreadedSanctum, **kw: Any) -> TuiOptions:
    return TuiOptions(server=server.address, max_hz=10.0, backoff=FAST, **kw)


async def test_dashboard_shows_what_the_trainer_sent(server: ThreadedSanctum) -> None:
    await asyncio.to_thread(server.ingest, full_run("run-1"))
    app = EsperTui(_options(server))
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_for(
            pilot,
            lambda: app.snapshot is not None and app.snapshot.lifecycle.pruned >= 1,
            what="a snapshot with the culled seed",
        )
        await wait_for(
            pilot,
            lambda: "PRUNED lora" in screen_text(app) and "SEED_CULLED" in screen_text(app),
            what="the culled seed in the table and the log",
        )
        text = screen_text(app)
        assert "[Mem:52%]" in text or "[Mem:53%]" in text
        assert "4.2/8.0" not in text
        assert "TAMIYO [compiled]" in text
        flow = next(line for line in text.splitlines() if "Flow:" in line)
        assert "CV:" in flow and "↑10%" in text and "↓5%" in text
        clip = next(line for line in text.splitlines() if "Clip frac" in line)
        assert "(↑10% ↓5%)" in clip
        table = app.query_one(EnvTable)
        row = [str(c) for c in table.get_row("1")]
        assert "PRUNED lora" in row
        assert "PRUNED lora" in text
        assert "● LIVE" in text or "◐ SLOW" in text
        assert "run run-1" in text and "cifar10" in text
        assert "SEED_CULLED" in text  # event log
        # Decision cards (ANALYTICS_SNAPSHOT) and host vitals (SYSTEM_VITALS) end to end.
        assert "DECISIONS" in text and "op=WAIT 70%" in text and "V +1.200" in text
        assert "host CPU 55%  RAM 6.5/16.0 GB" in text and "GPU —" in text  # a CPU run
        assert "812 fps · 4.9 ms/step" in text  # throughput under the compile badge
        # The culled seed keeps its counterfactual: the env detail shows it.
        await pilot.press("2", "enter")
        await wait_for(pilot, lambda: "Contrib" in screen_text(app), what="env 1 detail")
        culled = next(line for line in screen_text(app).splitlines() if "PRUNED lora" in line)
        assert "+0.013" in culled


async def test_finished_run_reads_done_with_its_final_numbers(server: ThreadedSanctum) -> None:
    events = build_run_events("run-done", n_batches=1, completed=True)
    await asyncio.to_thread(server.ingest, events)
    app = EsperTui(_options(server, run="run-done"))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: "■ COMPLETED" in screen_text(app), what="completion")
        text = screen_text(app)
        assert "■ DONE" in text and "STALE" not in text
        assert "final acc 0.600 · avg reward +0.300 · 2 episodes · wall 12.0s" in text


async def test_live_updates_arrive_while_watching(server: ThreadedSanctum) -> None:
    events = build_run_events("run-2", n_batches=1)
    await asyncio.to_thread(server.ingest, events)
    app = EsperTui(_options(server, run="run-2"))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.snapshot is not None, what="first snapshot")
        assert app.snapshot is not None
        first = app.snapshot.version
        more = culled_seed_events("run-2", len(events) + 1)
        await asyncio.to_thread(server.ingest, more)
        await wait_for(
            pilot,
            lambda: app.snapshot is not None and app.snapshot.version > first,
            what="a newer snapshot",
        )
        await wait_for(pilot, lambda: "PRUNED lora" in screen_text(app), what="culled seed")


async def test_run_picker_when_several_runs(server: ThreadedSanctum) -> None:
    """Both runs listed; the one still running shows its liveness, the completed one only
    its status (its silence is expected: no STALE, as in the header)."""
    await asyncio.to_thread(server.ingest, build_run_events("alpha", n_batches=1,
                                                            completed=True))
    await asyncio.to_thread(server.ingest, build_run_events("beta", n_batches=1))
    app = EsperTui(_options(server))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(
            pilot, lambda: isinstance(app.screen, RunPickerScreen), what="the run picker"
        )
        await wait_for(
            pilot,
            lambda: "alpha" in screen_text(app) and "beta" in screen_text(app),
            what="both runs listed",
        )
        rows = {name: next(line for line in screen_text(app).splitlines() if name in line)
                for name in ("alpha", "beta")}
        assert "completed" in rows["alpha"], rows
        assert not any(word in rows["alpha"] for word in ("LIVE", "SLOW", "STALE")), rows
        assert any(f"{word}  running" in rows["beta"] for word in ("LIVE", "SLOW", "STALE")), rows
        await pilot.press("j", "enter")
        await wait_for(pilot, lambda: bool(app.snapshot and app.snapshot.run_id), what="a run")
        assert app.snapshot is not None and app.run_id == app.snapshot.run_id
        assert f"run {app.run_id}" in screen_text(app)


async def test_wrong_token_is_a_clear_error_not_a_traceback() -> None:
    with ThreadedSanctum(token="s3cret") as server:
        app = EsperTui(_options(server, token="wrong"))
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: app.conn == "error", what="the auth error")
            await pilot.pause(0.1)
            assert "✖ error" in screen_text(app)
            assert any("--token" in n.message for n in app._notifications)


async def test_server_killed_then_restarted_on_same_port() -> None:
    first = ThreadedSanctum(heartbeat_s=0.2).start()
    port = int(first.address.rsplit(":", 1)[1])
    await asyncio.to_thread(first.ingest, build_run_events("run-r", n_batches=1))
    app = EsperTui(_options(first, run="run-r"))
    second: ThreadedSanctum | None = None
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: app.snapshot is not None, what="first snapshot")
            await asyncio.to_thread(first.stop, 0.2)
            await wait_for(
                pilot,
                lambda: "○ disconnected" in screen_text(app),
                what="the disconnected badge",
            )
            assert any(n.title == "Disconnected" for n in app._notifications)
            second = ThreadedSanctum(heartbeat_s=0.2, port=port).start()
            await asyncio.to_thread(second.ingest, full_run("run-r"))
            await wait_for(
                pilot,
                lambda: (
                    app.conn == "connected"
                    and app.snapshot is not None
                    and app.snapshot.lifecycle.pruned >= 1
                ),
                what="recovery after restart",
            )
            await wait_for(pilot, lambda: "LIVE" in screen_text(app), what="LIVE badge")
    finally:
        first.stop(0.2)
        if second is not None:
            second.stop(0.2)


async def test_tls_name_mismatch_is_explained_in_header_and_help(tmp_path: Path) -> None:
    """A certificate for `localhost` while the TUI connects to 127.0.0.1: the header (and
    `?` help) say which name is wrong and what to do, not only "disconnected"."""
    cert, key = make_cert(tmp_path, "localhost")
    with ThreadedSanctum(tls_cert=cert, tls_key=key) as server:
        app = EsperTui(_options(server, tls_ca=cert))
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: "not valid for the name" in screen_text(app),
                           what="the TLS reason in the header")
            text = screen_text(app)
            assert "○ disconnected" in text and "'127.0.0.1'" in text
            assert "it names localhost" in text
            await pilot.press("question_mark")
            await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
            connection = str(app.screen.query_one("#help-connection", Static).render())
            assert "not valid for the name '127.0.0.1'" in connection


async def test_run_picker_with_one_run_does_not_say_several(server: ThreadedSanctum) -> None:
    await asyncio.to_thread(server.ingest, build_run_events("solo", n_batches=1))
    app = EsperTui(_options(server, run="solo"))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.snapshot is not None, what="first snapshot")
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, RunPickerScreen), what="picker")
        await wait_for(pilot, lambda: "solo" in screen_text(app), what="the run listed")
        text = screen_text(app)
        assert "One run on this server" in text and "Several" not in text
