"""A/B policy groups: which TamiyoState the banner, heads and PPO panels show.

The snapshot's `tamiyo` is the primary group and `other_groups` the rest. Panels read
`snapshot.tamiyo`, so showing another group means handing them a small view snapshot
whose `tamiyo` is that group (run-level histories belong to the primary group only).
"""

from __future__ import annotations

from esper.sanctum.v1 import sanctum_pb2 as spb
from tui_client.renderables.fmt import clip


def groups(snapshot: spb.SanctumSnapshot | None) -> list[spb.TamiyoState]:
    """Every policy group, primary first."""
    if snapshot is None:
        return []
    return [snapshot.tamiyo, *snapshot.other_groups]


def group_name(tamiyo: spb.TamiyoState) -> str:
    """The group id (clipped for display), or "default" for the unnamed group."""
    return clip(tamiyo.group_id, 24) or "default"


def group_index(snapshot: spb.SanctumSnapshot | None, group_id: str | None) -> int:
    """Position of `group_id` among the groups; the primary (0) when absent or gone."""
    if group_id is None:
        return 0
    for i, tamiyo in enumerate(groups(snapshot)):
        if tamiyo.group_id == group_id:
            return i
    return 0


def group_label(snapshot: spb.SanctumSnapshot | None, group_id: str | None) -> str:
    """ "group B (2/2)" when the run has several groups, else "" (titles stay plain)."""
    all_groups = groups(snapshot)
    if len(all_groups) < 2:
        return ""
    i = group_index(snapshot, group_id)
    return f"group {group_name(all_groups[i])} ({i + 1}/{len(all_groups)})"


def group_view(snapshot: spb.SanctumSnapshot, group_id: str | None) -> spb.SanctumSnapshot:
    """`snapshot` itself for the primary group; otherwise a view whose `tamiyo` is the
    chosen group (config copied, histories left empty: they are the primary's)."""
    i = group_index(snapshot, group_id)
    if i == 0:
        return snapshot
    view = spb.SanctumSnapshot(run_id=snapshot.run_id, task_name=snapshot.task_name)
    view.run_config.CopyFrom(snapshot.run_config)
    view.tamiyo.CopyFrom(snapshot.other_groups[i - 1])
    return view


def next_group(snapshot: spb.SanctumSnapshot | None, group_id: str | None) -> str | None:
    """The group after `group_id` (wrapping), as an id; None means the primary group."""
    all_groups = groups(snapshot)
    if len(all_groups) < 2:
        return None
    i = (group_index(snapshot, group_id) + 1) % len(all_groups)
    return None if i == 0 else all_groups[i].group_id
