"""PPO health panel (seed Task 6.3): gauges with sparklines, directional clip."""

from __future__ import annotations

from rich.text import Text

from tui_client.renderables.ppo import ppo_text
from tui_client.widgets.bound import SnapshotPanel


class PpoHealth(SnapshotPanel, can_focus=True):
    """Gauges for the PPO losses and diagnostics; sparklines fill the remaining width.
    The title names the policy group when the run has several."""

    TITLE = "PPO HEALTH"

    def draw(self) -> Text:
        return ppo_text(self.snapshot, self.group, self.content_size.width)
