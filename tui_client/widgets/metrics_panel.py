"""Metrics panel: the run's own scalars (`run.log()`), with value, step and sparkline."""

from __future__ import annotations

from rich.text import Text

from tui_client.renderables.metrics import metrics_text
from tui_client.widgets.bound import SnapshotPanel


class MetricsPanel(SnapshotPanel, can_focus=True):
    """Every user metric of the run, one line each. Marked `-none` while the run logged
    none: the grid hides it then; its tab (small terminals) says so."""

    TITLE = "METRICS"

    def state_changed(self) -> None:
        super().state_changed()
        snapshot = self.snapshot
        self.set_class(snapshot is None or not snapshot.metrics.metrics, "-none")

    def draw(self) -> Text:
        return metrics_text(self.snapshot, self.width)
