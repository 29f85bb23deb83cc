"""Run header widget: identity, progress, throughput, RunConfig, liveness badge."""

from __future__ import annotations

from textual.widgets import Static

from tui_client.renderables.header import header_text
from tui_client.state import View


class RunHeader(Static):
    """Top two lines of the dashboard."""

    def show(self, view: View) -> None:
        self.update(header_text(view.snapshot, view.liveness, view.event_age, view.target,
                                view.detail))
        self.set_class(view.liveness == "disconnected", "-disconnected")
