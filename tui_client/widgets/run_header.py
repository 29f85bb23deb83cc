"""Run header widget: identity, progress, throughput, RunConfig, liveness badge."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive

from tui_client.renderables.header import header_text
from tui_client.state import View
from tui_client.widgets.bound import Drawn


class RunHeader(Drawn):
    """Top lines of the dashboard; bound to the app's `view` (it ages between snapshots)."""

    #: Snapshot plus connection state and clock (None before the app made one).
    view: reactive[View | None] = reactive(None, always_update=True, repaint=False)

    def watch_view(self, view: View | None) -> None:
        self.set_class(view is not None and view.liveness == "disconnected", "-disconnected")
        self.redraw()

    def draw(self) -> Text:
        view = self.view
        if view is None:
            return Text()
        return header_text(view.snapshot, view.liveness, view.event_age, view.target,
                           view.detail)
