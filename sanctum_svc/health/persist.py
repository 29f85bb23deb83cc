"""The health model's state in an aggregator checkpoint: tracks (hysteresis, active findings)
and each group's baselines, so a restart from a checkpoint judges the next update exactly as
a full replay would."""

from __future__ import annotations

from collections import deque

from esper.sanctum.v2 import checkpoint_pb2 as cpb
from esper_common.health_rules import BASELINE_UPDATES, BY_ID
from sanctum_svc.health.evaluate import GroupState, RunHealth
from sanctum_svc.health.track import Track


def _track_out(t: Track, out: cpb.CheckpointHealthTrack) -> None:
    out.rule_id, out.group_id, out.head = t.rule.id, t.group_id, t.head
    out.over, out.under, out.level = t.over, t.under, t.level
    out.observed, out.threshold = t.observed, t.threshold
    out.since, out.since_update = t.since, t.since_update


def _track_in(m: cpb.CheckpointHealthTrack) -> Track:
    rule = BY_ID.get(m.rule_id)
    if rule is None:
        raise ValueError(f"checkpoint names an unknown health rule {m.rule_id!r}")
    return Track(rule, m.group_id, m.head, over=m.over, under=m.under, level=m.level,
                 observed=m.observed, threshold=m.threshold, since=m.since,
                 since_update=m.since_update)


def capture(health: RunHealth, out: cpb.CheckpointHealth) -> None:
    for track in health.tracks.values():
        _track_out(track, out.tracks.add())
    for group_id, g in health.groups.items():
        out.groups.add(group_id=group_id, kl=g.kl, value_loss=g.value_loss, fps=g.fps,
                       updates=g.updates)
    out.evaluated = health.evaluated
    out.blocked_decisions = health.blocked_decisions
    _track_out(health.stall, out.stall)
    out.bands.update(health.bands)


def restore(msg: cpb.CheckpointHealth, health: RunHealth) -> None:
    health.tracks = {}
    for m in msg.tracks:
        track = _track_in(m)
        health.tracks[(track.rule.id, track.group_id, track.head)] = track
    health.groups = {}
    for gm in msg.groups:
        g = health.groups[gm.group_id] = GroupState()
        g.kl = deque(gm.kl, maxlen=BASELINE_UPDATES)
        g.value_loss = deque(gm.value_loss, maxlen=BASELINE_UPDATES)
        g.fps = deque(gm.fps, maxlen=BASELINE_UPDATES)
        g.updates = gm.updates
    health.evaluated = msg.evaluated
    health.blocked_decisions = msg.blocked_decisions
    if msg.HasField("stall"):
        health.stall = _track_in(msg.stall)
    health.bands = dict(msg.bands)
