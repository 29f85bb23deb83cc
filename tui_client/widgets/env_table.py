"""Env table: one row per env; per-slot seed stage (coloured) and blueprint."""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text
from textual.widgets import DataTable

from esper.sanctum.v1 import sanctum_pb2 as spb
from tui_client.renderables.envs import (
    env_row,
    lifecycle_text,
    parse_row_key,
    row_key,
    slot_ids,
)

FIXED_COLUMNS = ("Env", "Acc", "Best", "Reward")


class EnvTable(DataTable):
    """Rows keyed by env id; cells are updated in place while the layout is unchanged."""

    def on_mount(self) -> None:
        self.border_title = "ENVS"
        self.cursor_type = "row"
        self.zebra_stripes = True
        self._layout: tuple[tuple[str, ...], tuple[int, ...]] = ((), ())
        self._cells: dict[tuple[str, str | None], Text | str] = {}

    def show(self, snapshot: spb.SanctumSnapshot | None) -> None:
        if snapshot is None:
            return
        self.border_subtitle = lifecycle_text(snapshot)
        slots = slot_ids(snapshot)
        envs = sorted(snapshot.envs, key=lambda e: (e.group_id, e.env_id))
        layout = (tuple(slots), tuple(row_key(e.group_id, e.env_id) for e in envs))
        if layout != self._layout:
            self._rebuild(slots, envs)
            self._layout = layout
            return
        columns = list(self.columns)
        for env in envs:
            key = row_key(env.group_id, env.env_id)
            for col, value in zip(columns, env_row(env, slots), strict=True):
                if self._cells.get((key, col.value)) == value:
                    continue  # unchanged: no re-measure, no repaint
                self._cells[(key, col.value)] = value
                # Re-measuring a column is the costly part: only when the cell got wider.
                wider = cell_len(str(value)) > self.columns[col].content_width
                self.update_cell(key, col, value, update_width=wider)

    def _rebuild(self, slots: list[str], envs: list[spb.EnvState]) -> None:
        row = self.cursor_row
        self.clear(columns=True)
        self._cells.clear()
        for name in (*FIXED_COLUMNS, *slots):
            self.add_column(name, key=name)
        for env in envs:
            cells = env_row(env, slots)
            key = row_key(env.group_id, env.env_id)
            self.add_row(*cells, key=key)
            for name, value in zip((*FIXED_COLUMNS, *slots), cells, strict=True):
                self._cells[(key, name)] = value
        if envs:
            self.move_cursor(row=min(row, len(envs) - 1))

    def selected_env(self) -> tuple[str, int] | None:
        """(group_id, env_id) of the row under the cursor, if any."""
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key((self.cursor_row, 0)).row_key
        return parse_row_key(key.value) if key.value is not None else None

    def selected_env_id(self) -> int | None:
        """Env id of the row under the cursor, if any."""
        selected = self.selected_env()
        return selected[1] if selected else None
