"""Command palette provider: context commands (switch run, focus / open an env, help)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from tui_client.app import EsperTui


class EsperCommands(Provider):
    """Commands that depend on what the dashboard shows right now."""

    def _commands(self) -> list[tuple[str, Callable[[], object], str]]:
        app: EsperTui = self.app  # type: ignore[assignment]
        cmds: list[tuple[str, Callable[[], object], str]] = [
            ("Switch run", app.action_pick_run, "List the server's runs and watch another"),
            ("Reconnect now", app.action_reconnect, "Drop the stream and subscribe again"),
            ("Show help", app.action_help, "Key bindings"),
        ]
        snapshot = app.latest
        for env in sorted(snapshot.envs, key=lambda e: e.env_id) if snapshot else []:
            cmds.append(
                (f"Focus env {env.env_id}", partial(app.focus_env, env.env_id), "Select its row")
            )
            cmds.append(
                (
                    f"Open env {env.env_id} detail",
                    partial(app.open_env_detail, env.env_id),
                    "Seeds and histories",
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
