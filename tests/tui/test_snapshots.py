"""SVG snapshot tests of the main screen at fixed sizes, from a deterministic snapshot.

The app clock is frozen at the snapshot's generation time so ages and badges are stable.
Update with `pytest tests/tui --snapshot-update` after an intended visual change.
"""

from __future__ import annotations

from textual.pilot import Pilot

from testkit.snapshots import NOW, sample_snapshot
from tui_client.app import EsperTui


async def _feed(pilot: Pilot[None]) -> None:
    pilot.app.apply_snapshot(sample_snapshot())  # type: ignore[attr-defined]  # an EsperTui
    await pilot.pause()


async def _feed_groups(pilot: Pilot[None]) -> None:
    pilot.app.apply_snapshot(sample_snapshot(n_groups=2))  # type: ignore[attr-defined]  # EsperTui
    await pilot.pause()


def test_main_screen_120x40(snap_compare) -> None:
    assert snap_compare(EsperTui(clock=lambda: NOW), terminal_size=(120, 40), run_before=_feed)


def test_main_screen_80x24(snap_compare) -> None:
    assert snap_compare(EsperTui(clock=lambda: NOW), terminal_size=(80, 24), run_before=_feed)


def test_main_screen_160x50(snap_compare) -> None:
    assert snap_compare(EsperTui(clock=lambda: NOW), terminal_size=(160, 50), run_before=_feed)


def test_decisions_tab_80x24(snap_compare) -> None:
    assert snap_compare(
        EsperTui(clock=lambda: NOW), terminal_size=(80, 24), run_before=_feed, press=["tab"]
    )


def test_second_policy_group_120x40(snap_compare) -> None:
    assert snap_compare(
        EsperTui(clock=lambda: NOW),
        terminal_size=(120, 40),
        run_before=_feed_groups,
        press=["g"],
    )


def test_help_screen_80x24(snap_compare) -> None:
    assert snap_compare(
        EsperTui(clock=lambda: NOW), terminal_size=(80, 24), run_before=_feed, press=["?"]
    )
