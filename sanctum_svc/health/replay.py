"""Replay events through a real RunAggregator and record, per PPO update, the health
verdict: what calibration (bench/calibrate_health.py) and the health tests count."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.telemetry.v1 import telemetry_pb2 as tpb
from sanctum_svc.aggregator import RunAggregator


@dataclass
class Replay:
    """Per PPO update (after it was applied): the banner status, the firing rule ids and
    the gradient CV display bands (group -> band)."""

    statuses: list[int] = field(default_factory=list)
    fired: list[frozenset[str]] = field(default_factory=list)
    bands: list[dict[str, str]] = field(default_factory=list)
    last: spb.HealthSection = field(default_factory=spb.HealthSection)

    def after_warmup(self) -> list[int]:
        """Indexes of the updates evaluated once the run had warmed up."""
        return [i for i, s in enumerate(self.statuses) if s != spb.HEALTH_STATUS_WARMUP]

    def rate(self, rule_id: str) -> float:
        idx = self.after_warmup()
        return sum(rule_id in self.fired[i] for i in idx) / len(idx) if idx else 0.0

    def ok_rate(self) -> float:
        idx = self.after_warmup()
        return sum(self.statuses[i] == spb.HEALTH_STATUS_OK for i in idx) / len(idx) \
            if idx else 0.0

    def ever(self, rule_id: str) -> bool:
        return any(rule_id in f for f in self.fired)


def replay(events: Iterable[tpb.TelemetryEvent], *, step_s: float = 0.01,
           run: RunAggregator | None = None) -> Replay:
    """Apply `events` in order (receive times `step_s` apart) and read the health section
    after every PPO update, at the time it was received."""
    out = Replay()
    t = 1_700_000_000.0
    for event in events:
        if run is None:
            run = RunAggregator(event.run_id)
        t += step_s
        run.apply(event, t)
        if event.event_type == tpb.EVENT_TYPE_PPO_UPDATE_COMPLETED:
            section = spb.HealthSection()
            run.check_stall(t)
            run.health.section(section)
            out.statuses.append(section.status)
            out.fired.append(frozenset(f.rule_id for f in section.findings))
            out.bands.append({b.group_id: b.band for b in section.bands})
            out.last = section
    return out
