"""EnvTable (tui_client/widgets/env_table.py) caches DataTable's rendering of each cell by
overriding DataTable._render_cell and reading DataTable's private cursor and location state.
pyproject.toml admits only the Textual releases this was tested with; this test names what
a Textual outside them must still have, so an upgrade fails here, not in a user's terminal."""

from __future__ import annotations

import inspect

from textual.widgets import DataTable

from tui_client.widgets.env_table import EnvTable

#: DataTable attributes EnvTable._render_cell reads.
PRIVATE_STATE = ("_header_row_key", "_row_locations", "_column_locations",
                 "_show_hover_cursor", "_pseudo_class_state")


def test_render_cell_keeps_the_signature_env_table_overrides() -> None:
    ours = list(inspect.signature(EnvTable._render_cell).parameters)
    theirs = list(inspect.signature(DataTable._render_cell).parameters)
    assert theirs == ours, (
        f"textual's DataTable._render_cell{inspect.signature(DataTable._render_cell)} is not "
        f"what EnvTable overrides: {ours}")


def test_the_private_state_env_table_reads_exists() -> None:
    table = EnvTable()
    missing = [name for name in PRIVATE_STATE if not hasattr(table, name)]
    assert not missing, f"textual's DataTable no longer has {missing} (EnvTable._render_cell)"
