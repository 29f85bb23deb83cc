"""Delivery panel: received / applied / duplicate / rejected / gaps / dropped, and lag."""

from __future__ import annotations

from textual.widgets import Static

from tui_client.renderables.delivery import delivery_text
from tui_client.state import View


class DeliveryPanel(Static, can_focus=True):
    """What reached the run and how old the view is."""

    def on_mount(self) -> None:
        self.border_title = "DELIVERY"

    def show(self, view: View) -> None:
        self.update(delivery_text(view.snapshot, view.view_age, view.event_age))
