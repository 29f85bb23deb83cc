"""Env table: one row per env; per-slot seed stage (coloured) and blueprint."""

from __future__ import annotations

from typing import Self

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.cache import LRUCache
from textual.coordinate import Coordinate
from textual.reactive import reactive
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

from esper.sanctum.v2 import sanctum_pb2 as spb
from tui_client.renderables.envs import (
    env_row,
    lifecycle_text,
    parse_row_key,
    row_key,
    slot_ids,
    slot_label,
)
from tui_client.widgets.bound import set_title

SegmentLines = list[list[Segment]]

FIXED_COLUMNS = ("Env", "Acc", "Best", "Reward")
#: Slot columns shown at most (a real host has a handful; the env detail lists them all).
MAX_SLOT_COLUMNS = 48


class EnvTable(DataTable):
    """Rows keyed by env id; cells are updated in place while the layout is unchanged.

    Column widths are fixed by us, not left to DataTable's auto-width: auto-width is
    re-measured on idle without invalidating the render cache (Textual issue #3533),
    so a cell that grew between a paint and the next idle stayed cut ("PRUN") until
    the next update. A cell wider than its column rebuilds the table with the new
    widths, which is rare (widths only grow while the layout holds).

    DataTable forgets every rendered cell when any cell changes; this table keeps each
    cell's rendering until that cell changes (`_render_cell`), so a snapshot that changes
    a few cells re-renders only those.
    """

    #: The newest snapshot the app applied (bound to the app's); each one updates the cells
    #: that changed (no repaint of the whole table).
    snapshot: reactive[spb.SanctumSnapshot | None] = reactive(
        None, always_update=True, repaint=False)

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=True)
        self._layout: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())
        self._cells: dict[tuple[str, str | None], Text | str] = {}
        self._widths: dict[str, int] = {}
        #: Per-cell change count, and the cells rendered for it (cleared by a rebuild).
        self._versions: dict[tuple[object, object], int] = {}
        self._rendered: LRUCache[tuple[object, ...], SegmentLines] = LRUCache(4096)

    def on_mount(self) -> None:
        self.border_title = "ENVS"

    def update_cell(self, row_key: RowKey | str, column_key: ColumnKey | str, value: object,
                    *, update_width: bool = False) -> None:
        """DataTable's update_cell, repainting only the cell's row (DataTable repaints the
        whole table for each cell)."""
        row_key = RowKey(row_key) if isinstance(row_key, str) else row_key
        column_key = ColumnKey(column_key) if isinstance(column_key, str) else column_key
        cell = (row_key.value, column_key.value)
        self._versions[cell] = self._versions.get(cell, 0) + 1
        index = self._row_locations.get(row_key)
        if update_width or index is None or column_key not in self._column_locations:
            super().update_cell(row_key, column_key, value, update_width=update_width)
            return
        self._data[row_key][column_key] = value
        self._update_count += 1
        self.refresh_row(index)

    def clear(self, columns: bool = False) -> Self:
        self._versions.clear()
        self._rendered.clear()
        return super().clear(columns)

    def _render_cell(self, row_index: int, column_index: int, base_style: Style, width: int,
                     cursor: bool = False, hover: bool = False) -> SegmentLines:
        """DataTable's rendering of one cell, reused while the cell, its style and its
        width are unchanged (DataTable's own cache is keyed by the count of all updates)."""
        row_key = (self._header_row_key if row_index == -1
                   else self._row_locations.get_key(row_index))
        column_key = self._column_locations.get_key(column_index)
        row = row_key.value if row_key is not None else None
        column = column_key.value if column_key is not None else None
        key = (row_index, column_index, self._versions.get((row, column), 0), base_style,
               width, cursor, hover, self._show_hover_cursor, self._pseudo_class_state)
        lines = self._rendered.get(key)
        if lines is None:
            lines = super()._render_cell(row_index, column_index, base_style, width, cursor,
                                         hover)
            self._rendered[key] = lines
        return lines

    def watch_snapshot(self, snapshot: spb.SanctumSnapshot | None) -> None:
        """Update the cells that changed; rebuild when the envs or slots changed."""
        if snapshot is None:
            return
        set_title(self, Text(lifecycle_text(snapshot)), "border_subtitle")
        slots = slot_ids(snapshot)[:MAX_SLOT_COLUMNS]
        envs = sorted(snapshot.envs.envs, key=lambda e: (e.group_id, e.env_id))
        layout = (tuple(slots), tuple(row_key(e.group_id, e.env_id) for e in envs))
        names = (*FIXED_COLUMNS, *slots)
        rows = {row_key(e.group_id, e.env_id): env_row(e, slots) for e in envs}
        if layout != self._layout:
            self._layout = layout
            self._rebuild(names, rows, {})
            return
        changed = [
            (key, name, value)
            for key, cells in rows.items()
            for name, value in zip(names, cells, strict=True)
            if self._cells.get((key, name)) != value  # unchanged: no repaint
        ]
        if any(cell_len(str(value)) > self._widths[name] for _, name, value in changed):
            self._rebuild(names, rows, self._widths)
            return
        for key, name, value in changed:
            self._cells[(key, name)] = value
            self.update_cell(key, name, value)

    def _rebuild(
        self, names: tuple[str, ...], rows: dict[str, list[Text | str]], floor: dict[str, int]
    ) -> None:
        """Refill the table; each column as wide as its label, its widest cell and `floor`."""
        cursor = self.cursor_row
        self.clear(columns=True)
        self._cells.clear()
        self._widths = {}
        for i, name in enumerate(names):
            label = Text(name) if i < len(FIXED_COLUMNS) else slot_label(name)
            width = max(
                label.cell_len,
                floor.get(name, 0),
                *(cell_len(str(cells[i])) for cells in rows.values()),
            )
            self._widths[name] = width
            self.add_column(label, key=name, width=width)
        for key, cells in rows.items():
            self.add_row(*cells, key=key)
            for name, value in zip(names, cells, strict=True):
                self._cells[(key, name)] = value
        if rows:
            self.move_cursor(row=min(cursor, len(rows) - 1))

    def selected_env(self) -> tuple[str, int] | None:
        """(group_id, env_id) of the row under the cursor, if any."""
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(Coordinate(self.cursor_row, 0)).row_key
        return parse_row_key(key.value) if key.value is not None else None

    def selected_env_id(self) -> int | None:
        """Env id of the row under the cursor, if any."""
        selected = self.selected_env()
        return selected[1] if selected else None
