"""The dashboard shows a run imported from the original system's file."""

from __future__ import annotations

import asyncio

import pytest

from testkit import ThreadedSanctum
from tests.bridge.original import FIXTURE, of, records, run_import
from tests.tui.helpers import screen_text, wait_for
from tui_client.app import EsperTui
from tui_client.config import TuiOptions
from tui_client.connection import Backoff
from tui_client.widgets.env_table import EnvTable

pytestmark = pytest.mark.slow


async def test_the_tui_shows_an_imported_run() -> None:
    recs = records(FIXTURE)
    start = of(recs, "TRAINING_STARTED")[0]["data"]
    last_decision = of(recs, "ANALYTICS_SNAPSHOT[kind=last_action]")[-1]["data"]
    with ThreadedSanctum() as server:
        done = await asyncio.to_thread(run_import, FIXTURE, server.address)
        assert done.returncode == 0, done.stderr
        app = EsperTui(TuiOptions(server=server.address, max_hz=10.0,
                                  backoff=Backoff(initial=0.1, factor=2.0, maximum=0.4)))
        async with app.run_test(size=(160, 50)) as pilot:
            await wait_for(pilot, lambda: app.snapshot is not None and app.snapshot.envs.envs,
                           what="the imported run's snapshot")
            await wait_for(pilot, lambda: start["task"] in screen_text(app), what="the task")
            text = screen_text(app)
            assert start["episode_id"] in text  # the run id names the original's run
            table = app.query_one(EnvTable)
            assert table.row_count == start["n_envs"]
            card = f"op={last_decision['action_name']}"
            await wait_for(pilot, lambda: card in screen_text(app), what="the last decision")
