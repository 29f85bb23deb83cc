"""No value a snapshot can hold crashes the dashboard or floods it.

Generated snapshots (every field at every depth, edge values: see tests/tui/hostile.py)
go through every pure renderable and are rendered to a console the way Textual would;
then the real app watches a real gRPC server that serves a hostile snapshot and heartbeats,
and is driven through its screens (run picker, env detail, groups, help).
"""

from __future__ import annotations

import io
import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console, RenderableType
from rich.text import Text

from esper.sanctum.v2 import sanctum_pb2 as spb
from tests.tui.helpers import screen_text, wait_for
from tests.tui.hostile import (
    HostileSanctum,
    hostile_runs,
    hostile_snapshot,
    run_summaries,
    snapshots,
)
from tui_client.app import EsperTui
from tui_client.config import TuiOptions
from tui_client.connection import Backoff
from tui_client.renderables.banner import banner_text, banner_title, throughput_text
from tui_client.renderables.decisions import group_decisions
from tui_client.renderables.delivery import delivery_text, trimmed_text
from tui_client.renderables.envs import env_row, lifecycle_text, slot_ids
from tui_client.renderables.event_log import log_text
from tui_client.renderables.groups import group_label, groups, next_group
from tui_client.renderables.header import header_text
from tui_client.renderables.heads import heads_text
from tui_client.renderables.ppo import ppo_text
from tui_client.renderables.vitals import vitals_text
from tui_client.screens.env_detail import EnvDetailScreen, env_detail
from tui_client.screens.run_picker import RunPickerScreen, run_label
from tui_client.state import Freshness, View

#: No line a renderable draws from one snapshot value may be longer than this: an enormous
#: string is clipped, a huge number is shown in exponent form.
MAX_LINE = 400
AGES = st.one_of(st.none(), st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -1.0]),
                 st.floats())
WIDTHS = st.sampled_from([None, 0, 1, 20, 80, 200])


def render(renderable: RenderableType, width: int = 100) -> str:
    """Render like a terminal would. A str is read as console markup, as a DataTable cell
    or a Rich table cell is: the app passes a str only where that is safe."""
    console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False)
    console.print(renderable)
    return console.file.getvalue()  # type: ignore[attr-defined]  # a StringIO


def check_text(text: Text | str) -> None:
    plain = text.plain if isinstance(text, Text) else text
    for line in plain.splitlines():
        assert len(line) <= MAX_LINE, f"unclipped line of {len(line)} chars: {line[:80]!r}…"
    assert "\x1b" not in plain and "\x07" not in plain, "control characters reach the screen"


def draw_everything(snap: spb.SanctumSnapshot, age: float | None, width: int | None) -> None:
    """Every renderable the app draws from one snapshot, as the widgets call them."""
    fresh = Freshness(age, 0.0)
    view = View(snap, "connected", fresh, 1.0, "server:1")
    texts: list[Text | str] = [
        header_text(snap, view.liveness, view.event_age, view.target),
        header_text(None, "connecting", age, "server:1"),
        delivery_text(snap, view.view_age, view.event_age, width),
        trimmed_text(snap, width) or "",
        vitals_text(snap, width),
        log_text(snap),
        lifecycle_text(snap),
    ]
    slots = slot_ids(snap)
    for env in snap.envs.envs:
        for cell in env_row(env, slots):  # DataTable cells: a str is read as markup
            texts.append(cell)
        render(env_detail(snap, env.env_id, env.group_id))
    for group in groups(snap):
        label = group_label(snap, group.group_id)  # widgets put it in a Text title
        texts += [Text(label), Text(banner_title(snap)), banner_text(snap, group),
                  Text(throughput_text(group)), heads_text(snap, group, width),
                  ppo_text(snap, group, width or 0),
                  group_decisions(snap, group, width or 60)]
        next_group(snap, group.group_id)
    for text in texts:
        check_text(text)
        render(text)


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(snapshots(), AGES, WIDTHS)
def test_any_snapshot_renders(snap: spb.SanctumSnapshot, age: float | None,
                              width: int | None) -> None:
    draw_everything(snap, age, width)


@settings(max_examples=100, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(run_summaries())
def test_any_run_summary_renders(run: spb.RunSummary) -> None:
    label = run_label(run)
    check_text(label)
    render(label)


def test_fixed_hostile_snapshot_renders_dashes() -> None:
    snap = hostile_snapshot()
    draw_everything(snap, math.nan, 80)
    log = log_text(snap).plain
    assert log.count("--:--:--") == 5  # 4 out-of-range timestamps and 1 absent one
    assert "00:00:00" in log  # the one valid timestamp (0 s, 0 ns) still shows
    header = header_text(snap, "LIVE", math.nan, "t").plain
    assert "run evil-run" in header and "…" in header  # the task name is clipped
    snap.run.status = spb.RUN_STATUS_COMPLETED
    done = header_text(snap, "DONE", math.nan, "t").plain
    assert "final acc NaN" in done and "wall —" in done


def _options(server: HostileSanctum, **kw: Any) -> TuiOptions:
    return TuiOptions(server=server.address, max_hz=10.0,
                      backoff=Backoff(initial=0.1, factor=2.0, maximum=0.4),
                      **kw)


async def test_dashboard_survives_a_hostile_server() -> None:
    snap = hostile_snapshot()
    with HostileSanctum([snap], hostile_runs()) as server:
        app = EsperTui(_options(server))
        async with app.run_test(size=(140, 45)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, RunPickerScreen),
                           what="the run picker")
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.snapshot is not None, what="the hostile snapshot")
            await wait_for(pilot, lambda: "ESPER" in screen_text(app), what="the dashboard")
            await pilot.pause(0.3)  # heartbeats with out-of-range values arrive
            text = screen_text(app)
            assert "--:--:--" in text  # event-log clock of an out-of-range timestamp
            assert "\x1b" not in text
            for key in ("g", "g", "g", "j", "enter"):
                await pilot.press(key)
                await pilot.pause(0.1)
            await wait_for(pilot, lambda: isinstance(app.screen, EnvDetailScreen),
                           what="env detail")
            await pilot.pause(0.2)
            assert "ENV" in screen_text(app)
            await pilot.press("escape", "question_mark")
            await pilot.pause(0.2)
            await pilot.press("escape")
            for size in ((80, 24), (200, 60)):
                await pilot.resize_terminal(*size)
                await pilot.pause(0.2)
                assert "ESPER" in screen_text(app)
            assert app.is_running
