"""The run's own scalars (METRICS events, `run.log()` of the SDK): per name the latest value,
the step it was logged at and a bounded history, for a bounded number of names.

Each (group, env, name) is one track. At most MAX_METRIC_NAMES (256) tracks per run: values of
further names are refused (counted in `refused`, never kept), so a script that logs a new
name every step cannot grow sanctum's memory. Names are at most 128 characters (the
contract's rule, checked at ingest).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_common.events import MAX_METRIC_NAMES

#: (group_id, env_id or None, name)
Key = tuple[str, int | None, str]


@dataclass
class MetricTrack:
    value: float
    step: int | None
    history: deque[float] = field(default_factory=deque)


class MetricTracks:
    """The metric tracks of one run (see module docstring)."""

    def __init__(self, history_len: int, max_names: int = MAX_METRIC_NAMES) -> None:
        self.history_len = history_len
        self.max_names = max_names
        self.tracks: dict[Key, MetricTrack] = {}
        #: Values not kept because their name would have exceeded max_names.
        self.refused = 0

    def record(self, event: tpb.TelemetryEvent) -> None:
        p = event.metrics
        env = event.env_id if event.HasField("env_id") else None
        step = p.step if p.HasField("step") else None
        group = event.group_id
        tracks = self.tracks
        for m in p.metrics:
            key = (group, env, m.name)
            track = tracks.get(key)
            if track is None:
                if len(tracks) >= self.max_names:
                    self.refused += 1
                    continue
                track = tracks[key] = MetricTrack(m.value, step,
                                                  deque(maxlen=self.history_len))
            track.value = m.value
            track.step = step
            track.history.append(m.value)

    def section(self, snap: spb.SanctumSnapshot) -> None:
        """Fill `snap.metrics` (left absent when the run logged no metric)."""
        if not self.tracks and not self.refused:
            return
        out = snap.metrics
        out.refused = self.refused
        for (group, env, name), track in self.tracks.items():
            metric = out.metrics.add(name=name, group_id=group, value=track.value)
            if env is not None:
                metric.env_id = env
            if track.step is not None:
                metric.step = track.step
            metric.history.extend(track.history)
