"""Command palette provider: context commands (switch run, show a panel or policy group,
focus / open an env, help)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

from tui_client.panels import PANELS
from tui_client.renderables.envs import row_key

if TYPE_CHECKING:
    from tui_client.app import EsperTui


class EsperCommands(Provider):
    """Commands that depend on what the dashboard shows right now."""

    def _commands(self) -> list[tuple[str, Callable[[], object], str]]:
        app: EsperTui = self.app  # type: ignore[assignment]  # the palette of EsperTui only
        cmds: list[tuple[str, Callable[[], object], str]] = [
            ("Switch run", app.action_pick_run, "List the server's runs and watch another"),
            ("Reconnect now", app.action_reconnect, "Drop the stream and subscribe again"),
            ("Show help", app.action_help, "Key bindings"),
        ]
        for panel_id, label in PANELS:
            cmds.append(
                (f"Show panel {label}", partial(app.show_panel, panel_id), "Focus it (g: group)")
            )
        groups = app.group_ids()
        if len(groups) > 1:
            for group_id, name in groups:
                cmds.append(
                    (
                        f"Show policy group {name}",
                        partial(app.show_group, group_id),
                        "Its Tamiyo state in banner, heads, PPO and decisions",
                    )
                )
        snapshot = app.snapshot
        envs = sorted(snapshot.envs.envs, key=lambda e: (e.group_id, e.env_id)) if snapshot else []
        for env in envs:
            name = row_key(env.group_id, env.env_id)
            cmds.append(
                (
                    f"Focus env {name}",
                    partial(app.focus_env, env.env_id, env.group_id),
                    "Select its row",
                )
            )
            cmds.append(
                (
                    f"Open env {name} detail",
                    partial(app.open_env_detail, env.env_id, env.group_id),
                    "Seeds, series and decisions",
                )
            )
        return cmds

    async def discover(self) -> Hits:
        for name, callback, help_text in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
