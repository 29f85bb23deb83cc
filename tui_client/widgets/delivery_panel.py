"""Delivery panel: received / applied / duplicate / rejected / gaps / dropped, lag, and
the trainer host's vitals."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.widgets import Static

from tui_client.renderables.delivery import delivery_text, trimmed_text
from tui_client.renderables.vitals import vitals_text
from tui_client.state import View


class DeliveryPanel(Static, can_focus=True):
    """What reached the run, how old the view is, and how the trainer's host is doing.
    Items wrap as wholes to the panel's width (redrawn when it is resized)."""

    _view: View | None = None

    def on_mount(self) -> None:
        self.border_title = "DELIVERY · HOST"

    def show(self, view: View) -> None:
        self._view = view
        width = self.content_size.width or None
        out = Text()
        trimmed = trimmed_text(view.snapshot, width)
        if trimmed is not None:
            out.append_text(trimmed)
            out.append("\n")
        out.append_text(vitals_text(view.snapshot, width))
        out.append("\n")
        out.append_text(delivery_text(view.snapshot, view.view_age, view.event_age, width))
        self.update(out)

    def on_resize(self, _: events.Resize) -> None:
        if self._view is not None:
            self.show(self._view)
