"""Env table: one row per env; per-slot seed stage (coloured) and blueprint."""

from __future__ import annotations

from textual.widgets import DataTable

from esper.sanctum.v1 import sanctum_pb2 as spb
from tui_client.renderables.envs import env_row, lifecycle_text, slot_ids

FIXED_COLUMNS = ("Env", "Acc", "Best", "Reward")


class EnvTable(DataTable):
    """Rows keyed by env id; cells are updated in place while the layout is unchanged."""

    def on_mount(self) -> None:
        self.border_title = "ENVS"
        self.cursor_type = "row"
        self.zebra_stripes = True
        self._layout: tuple[tuple[str, ...], tuple[int, ...]] = ((), ())

    def show(self, snapshot: spb.SanctumSnapshot | None) -> None:
        if snapshot is None:
            return
        self.border_subtitle = lifecycle_text(snapshot)
        slots = slot_ids(snapshot)
        envs = sorted(snapshot.envs, key=lambda e: e.env_id)
        layout = (tuple(slots), tuple(e.env_id for e in envs))
        if layout != self._layout:
            self._rebuild(slots, envs)
            self._layout = layout
            return
        columns = list(self.columns)
        for env in envs:
            for col, value in zip(columns, env_row(env, slots), strict=True):
                self.update_cell(str(env.env_id), col, value, update_width=True)

    def _rebuild(self, slots: list[str], envs: list[spb.EnvState]) -> None:
        row = self.cursor_row
        self.clear(columns=True)
        for name in (*FIXED_COLUMNS, *slots):
            self.add_column(name, key=name)
        for env in envs:
            self.add_row(*env_row(env, slots), key=str(env.env_id))
        if envs:
            self.move_cursor(row=min(row, len(envs) - 1))

    def selected_env_id(self) -> int | None:
        """Env id of the row under the cursor, if any."""
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key((self.cursor_row, 0)).row_key
        return int(key.value) if key.value is not None else None
