"""Pilot helpers: read what is on screen as text, and wait for a condition."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from textual.app import App
from textual.pilot import Pilot


def screen_text(app: App[Any]) -> str:
    """The whole current screen as plain text, one line per terminal row."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(seg.text for seg in strip) for strip in strips)


async def wait_for(
    pilot: Pilot[Any], cond: Callable[[], bool], timeout: float = 15.0, what: str = ""
) -> None:
    """Let the app run until `cond()` holds; fail with the screen contents otherwise."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{screen_text(pilot.app)}")
        await pilot.pause(0.05)
        await asyncio.sleep(0)
