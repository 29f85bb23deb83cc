"""The dashboard's panels: ids and tab labels in tab / focus order (app and palette)."""

from __future__ import annotations

PANELS: tuple[tuple[str, str], ...] = (
    ("heads", "Heads"),
    ("ppo", "PPO"),
    ("envs", "Envs"),
    ("decisions", "Decisions"),
    ("events", "Events"),
    ("delivery", "Delivery"),
    ("metrics", "Metrics"),
)
#: Screen classes (from the app's breakpoints) under which panels show one at a time:
#: narrower than 100 columns or shorter than 36 rows.
COMPACT_CLASSES = ("-narrow", "-short")
