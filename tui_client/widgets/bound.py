"""The base of the panels drawn from the app's snapshot.

The app owns the state (`EsperTui.snapshot`, `EsperTui.group_id`); a panel declares the same
reactives and is bound to the app's with `data_bind`, so a new snapshot or another group
reaches every panel without the app calling into it. Each panel's `render()` calls its pure
renderable (`tui_client.renderables`) with them and its current width: a resize redraws it
by itself.
"""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from esper.sanctum.v2 import sanctum_pb2 as spb
from tui_client.renderables.groups import group_of, titled


class SnapshotView(Widget):
    """Draws from the app's snapshot and the group shown (both bound with data_bind)."""

    #: The newest snapshot the app applied (None before the first).
    snapshot: reactive[spb.SanctumSnapshot | None] = reactive(
        None, layout=True, always_update=True)
    #: The policy group shown (None = the primary).
    group_id: reactive[str | None] = reactive(None, layout=True)

    _drawn: tuple[tuple[int, str | None, int], RenderableType] | None = None

    def draw(self) -> RenderableType:
        """The panel's pure renderable for the current snapshot, group and width."""
        raise NotImplementedError

    def render(self) -> RenderableType:
        """`draw()`, once per (snapshot, group, width): Textual asks twice per refresh for an
        auto-height panel (to measure, then to paint)."""
        key = (id(self.snapshot), self.group_id, self.content_size.width)
        if self._drawn is None or self._drawn[0] != key:
            self._drawn = (key, self.draw())
        return self._drawn[1]

    @property
    def group(self) -> spb.PolicyGroup:
        """The PolicyGroup shown, looked up in the current snapshot."""
        return group_of(self.snapshot, self.group_id)

    @property
    def width(self) -> int | None:
        """Columns available to the renderable (None before the first layout)."""
        return self.content_size.width or None


class SnapshotPanel(SnapshotView):
    """A bordered panel titled TITLE (plus the group shown, with several groups)."""

    TITLE = ""

    def on_mount(self) -> None:
        self.border_title = self.TITLE

    def watch_snapshot(self) -> None:
        # Text, not str: a group id comes from the wire and a str title is read as markup.
        self.border_title = Text(titled(self.TITLE, self.snapshot, self.group_id))

    def watch_group_id(self) -> None:
        self.watch_snapshot()
