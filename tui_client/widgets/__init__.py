"""Thin Textual widgets, one per module; drawing lives in `tui_client.renderables`."""
