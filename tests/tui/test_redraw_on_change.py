"""A new snapshot repaints only the panels whose text changed, and lays out the screen only
when a panel's height may have changed (every panel repainting and a full layout on every
snapshot made a repaint cost ~70 ms on two cores)."""

from __future__ import annotations

from typing import Any

from esper.sanctum.v2 import sanctum_pb2 as spb
from testkit.snapshots import NOW, sample_snapshot
from tests.tui.helpers import screen_text
from tui_client.app import EsperTui
from tui_client.widgets.heads_panel import HeadsPanel
from tui_client.widgets.ppo_health import PpoHealth


def _next(snap: spb.SanctumSnapshot) -> spb.SanctumSnapshot:
    """The same run a moment later: one env's reward moved, nothing else."""
    out = spb.SanctumSnapshot()
    out.CopyFrom(snap)
    out.version += 1
    out.envs.envs[0].last_epoch.reward += 0.25
    return out


async def test_only_changed_panels_repaint() -> None:
    app = EsperTui(clock=lambda: NOW)
    async with app.run_test(size=(160, 50)) as pilot:
        snap = sample_snapshot(n_envs=4)
        app.apply_snapshot(snap)
        await pilot.pause()
        calls: dict[str, list[bool]] = {"heads": [], "ppo": [], "screen": []}

        def spy(name: str, target: Any) -> None:
            inner = target.refresh

            def refresh(*args: Any, **kwargs: Any) -> Any:
                calls[name].append(bool(kwargs.get("layout")))
                return inner(*args, **kwargs)

            target.refresh = refresh

        spy("heads", app.query_one(HeadsPanel))
        spy("ppo", app.query_one(PpoHealth))
        spy("screen", app.screen)
        snap = _next(snap)
        app.apply_snapshot(snap)
        await pilot.pause()
        assert calls["heads"] == [] and calls["ppo"] == [], calls
        assert True not in calls["screen"], calls  # no new layout for a changed cell
        reward = f"{snap.envs.envs[0].last_epoch.reward:.3f}"
        assert reward[:4] in screen_text(app)

        changed = _next(snap)
        changed.tamiyo.groups[0].last_update.entropy = 0.123456
        app.apply_snapshot(changed)
        await pilot.pause()
        assert calls["ppo"], "the PPO gauges changed: the panel must repaint"
