"""PPO health panel (seed Task 6.3): gauges with sparklines, directional clip."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.widgets import Static

from esper.sanctum.v1 import sanctum_pb2 as spb
from tui_client.renderables.ppo import ppo_text


class PpoHealth(Static, can_focus=True):
    """Gauges for the PPO losses and diagnostics; sparklines fill the remaining width.
    The title names the policy group when the run has several."""

    _snapshot: spb.SanctumSnapshot | None = None

    def on_mount(self) -> None:
        self.border_title = "PPO HEALTH"
        self.show(None)

    def show(self, snapshot: spb.SanctumSnapshot | None, group: str = "") -> None:
        self._snapshot = snapshot
        self.border_title = Text(f"PPO HEALTH · {group}" if group else "PPO HEALTH")
        self.update(ppo_text(snapshot, self.content_size.width))

    def on_resize(self, _: events.Resize) -> None:
        self.update(ppo_text(self._snapshot, self.content_size.width))
