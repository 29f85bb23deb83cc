"""A/B policy groups: which PolicyGroup the banner, heads, PPO and decisions panels show.

`snapshot.tamiyo.groups` lists every group, the primary (first seen) first. The app keeps
the chosen group as an id (None = the primary); panels look it up in each new snapshot.
"""

from __future__ import annotations

from esper.sanctum.v2 import sanctum_pb2 as spb
from tui_client.renderables.fmt import clip


def groups(snapshot: spb.SanctumSnapshot | None) -> list[spb.PolicyGroup]:
    """Every policy group, primary first."""
    return list(snapshot.tamiyo.groups) if snapshot is not None else []


def group_name(group: spb.PolicyGroup) -> str:
    """The group id (clipped for display), or "default" for the unnamed group."""
    return clip(group.group_id, 24) or "default"


def group_index(snapshot: spb.SanctumSnapshot | None, group_id: str | None) -> int:
    """Position of `group_id` among the groups; the primary (0) when absent or gone."""
    if group_id is None:
        return 0
    for i, group in enumerate(groups(snapshot)):
        if group.group_id == group_id:
            return i
    return 0


def group_of(snapshot: spb.SanctumSnapshot | None, group_id: str | None) -> spb.PolicyGroup:
    """The chosen group (the primary when `group_id` is None or gone); an empty group
    before any arrived."""
    all_groups = groups(snapshot)
    return all_groups[group_index(snapshot, group_id)] if all_groups else spb.PolicyGroup()


def group_label(snapshot: spb.SanctumSnapshot | None, group_id: str | None) -> str:
    """ "group B (2/2)" when the run has several groups, else "" (titles stay plain)."""
    all_groups = groups(snapshot)
    if len(all_groups) < 2:
        return ""
    i = group_index(snapshot, group_id)
    return f"group {group_name(all_groups[i])} ({i + 1}/{len(all_groups)})"


def titled(title: str, snapshot: spb.SanctumSnapshot | None, group_id: str | None) -> str:
    """ "HEADS · group B (2/2)" with several groups, else "HEADS"."""
    label = group_label(snapshot, group_id)
    return f"{title} · {label}" if label else title


def next_group(snapshot: spb.SanctumSnapshot | None, group_id: str | None) -> str | None:
    """The group after `group_id` (wrapping), as an id; None means the primary group."""
    all_groups = groups(snapshot)
    if len(all_groups) < 2:
        return None
    i = (group_index(snapshot, group_id) + 1) % len(all_groups)
    return None if i == 0 else all_groups[i].group_id


def series(snapshot: spb.SanctumSnapshot | None, metric: str, group_id: str = "",
           env_id: int | None = None) -> list[float]:
    """Values of the series `metric` of one group (and env), newest last; [] when absent."""
    if snapshot is None:
        return []
    for s in snapshot.histories.series:
        if s.metric == metric and s.group_id == group_id and (
                s.env_id == env_id if env_id is not None else not s.HasField("env_id")):
            return list(s.values)
    return []
