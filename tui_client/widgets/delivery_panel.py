"""Delivery panel: received / applied / duplicate / rejected / gaps / dropped, lag, and
the trainer host's vitals."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive

from tui_client.renderables.delivery import delivery_text, trimmed_text
from tui_client.renderables.vitals import vitals_text
from tui_client.state import View
from tui_client.widgets.bound import Drawn


class DeliveryPanel(Drawn, can_focus=True):
    """What reached the run, how old the view is, and how the trainer's host is doing.
    Items wrap as wholes to the panel's width. Bound to the app's `view` (ages change
    between snapshots)."""

    #: Snapshot plus connection state and clock (None before the app made one).
    view: reactive[View | None] = reactive(None, always_update=True, repaint=False)

    def on_mount(self) -> None:
        self.border_title = "DELIVERY · HOST"

    def watch_view(self) -> None:
        self.redraw()

    def draw(self) -> Text:
        view = self.view
        width = self.width
        snapshot = view.snapshot if view is not None else None
        out = Text()
        trimmed = trimmed_text(snapshot, width)
        if trimmed is not None:
            out.append_text(trimmed)
            out.append("\n")
        out.append_text(vitals_text(snapshot, width))
        out.append("\n")
        view_age = view.view_age if view is not None else None
        event_age = view.event_age if view is not None else None
        out.append_text(delivery_text(snapshot, view_age, event_age, width))
        return out
