"""The base of the panels drawn from the app's state: redrawn only when what they show changed.

The app owns the state (`EsperTui.snapshot`, `EsperTui.group_id`, `EsperTui.view`); a panel
declares the same reactives and is bound to the app's with `data_bind`, so a new snapshot or
another group reaches every panel without the app calling into it. A panel's `draw()` calls
its pure renderable (`tui_client.renderables`) at its current width.

A new snapshot redraws the panel's text at once and compares it with what is on screen: an
unchanged panel is not repainted (most of a snapshot's sections do not change between two
snapshots: a stream of epochs changes the env table and the delivery counts, not the heads
or the PPO gauges), and only a panel whose height may have changed asks for a new layout of
the screen. A resize redraws through `render()` at the new width.
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from esper.sanctum.v2 import sanctum_pb2 as spb
from tui_client.renderables.groups import group_of, titled


def same_text(a: Text, b: Text) -> bool:
    """Whether two Texts look the same (rich's == ignores the base style and wrapping)."""
    return (a == b and a.style == b.style and a.justify == b.justify
            and a.overflow == b.overflow and a.no_wrap == b.no_wrap)


def _shape(text: Text, width: int) -> tuple[int, bool]:
    """(lines, whether any line may wrap at `width`): equal shapes have equal heights."""
    lines = text.plain.split("\n")
    return len(lines), any(cell_len(line) > width for line in lines)


def set_title(widget: Widget, title: Text, attr: str = "border_title") -> None:
    """Set the border title (or `attr="border_subtitle"`) if it changed: setting one always
    repaints the widget."""
    shown = f"_shown_{attr}"
    if not same_text(getattr(widget, shown, Text("\0")), title):
        setattr(widget, shown, title)
        setattr(widget, attr, title)


class Drawn(Widget):
    """A widget whose whole content is one Text from `draw()`, repainted only on change."""

    #: (content width, text) on screen; None before the first draw.
    _drawn: tuple[int, Text] | None = None

    def draw(self) -> Text:
        """The widget's text for its current state and width."""
        raise NotImplementedError

    def redraw(self) -> None:
        """Draw now; repaint if the text changed, and lay out again if its height may have."""
        width = self.content_size.width
        text = self.draw()
        old, self._drawn = self._drawn, (width, text)
        if old is not None and old[0] == width and same_text(old[1], text):
            return
        self.refresh(layout=old is None or _shape(old[1], width) != _shape(text, width))

    def render(self) -> Text:
        """The text drawn for the current state, redrawn when the width changed: Textual
        asks twice per refresh of an auto-height widget (to measure, then to paint)."""
        width = self.content_size.width
        if self._drawn is None or self._drawn[0] != width:
            self._drawn = (width, self.draw())
        return self._drawn[1]

    @property
    def width(self) -> int | None:
        """Columns available to the renderable (None before the first layout)."""
        return self.content_size.width or None


class SnapshotView(Drawn):
    """Draws from the app's snapshot and the group shown (both bound with data_bind)."""

    #: The newest snapshot the app applied (None before the first).
    snapshot: reactive[spb.SanctumSnapshot | None] = reactive(
        None, always_update=True, repaint=False)
    #: The policy group shown (None = the primary).
    group_id: reactive[str | None] = reactive(None, repaint=False)

    def state_changed(self) -> None:
        """Called on a new snapshot or group before the redraw (titles, CSS classes)."""

    def watch_snapshot(self) -> None:
        self.state_changed()
        self.redraw()

    def watch_group_id(self) -> None:
        self.watch_snapshot()

    @property
    def group(self) -> spb.PolicyGroup:
        """The PolicyGroup shown, looked up in the current snapshot."""
        return group_of(self.snapshot, self.group_id)


class SnapshotPanel(SnapshotView):
    """A bordered panel titled TITLE (plus the group shown, with several groups)."""

    TITLE = ""

    def on_mount(self) -> None:
        self.border_title = self.TITLE

    def state_changed(self) -> None:
        # Text, not str: a group id comes from the wire and a str title is read as markup.
        set_title(self, Text(titled(self.TITLE, self.snapshot, self.group_id)))
