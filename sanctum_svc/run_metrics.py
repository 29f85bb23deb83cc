"""Per-run Prometheus gauges, read from the aggregator when /metrics is scraped (nothing
on the ingest path): seconds since the last event, active health findings by rule and
severity, episodes completed and the latest batch's mean reward.

Label cardinality is bounded: the MAX_RUNS runs with the most recent events are exported.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from esper_common.derived import FINISHED
from esper_common.health_rules import RULES

if TYPE_CHECKING:
    from sanctum_svc.aggregator import Aggregator, RunAggregator

#: Runs exported (most recent first): bounds the series a scrape returns.
MAX_RUNS = 200
SEVERITIES = {1: "warning", 2: "critical"}


def _levels(run: RunAggregator, now: float) -> dict[tuple[str, str], int]:
    """(rule, severity) -> active findings of `run`; `stall` judged at `now` (read only)."""
    counts = {(r.id, sev): 0 for r in RULES for sev in SEVERITIES.values()}
    for track in list(run.health.tracks.values()):
        if track.level:
            counts[(track.rule.id, SEVERITIES[track.level])] += 1
    if run.last_event_time is not None and run.state.run.status not in FINISHED:
        lvl, _ = run.health.stall.rule.level(max(0.0, now - run.last_event_time))
        if lvl:
            counts[("stall", SEVERITIES[lvl])] += 1
    return counts


class RunCollector(Collector):
    """Collects the per-run gauges of `aggregator` at scrape time."""

    def __init__(self, aggregator: Aggregator, clock: Callable[[], float] = time.time) -> None:
        self.aggregator = aggregator
        self.clock = clock

    def describe(self) -> list[GaugeMetricFamily]:
        return []  # collected on demand: no fixed series to pre-register

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = self.clock()
        for _ in range(3):  # the loop thread may add a run while this thread reads
            try:
                runs = sorted(list(self.aggregator.runs()), reverse=True,
                              key=lambda r: r.last_event_time or 0.0)[:MAX_RUNS]
                break
            except RuntimeError:
                continue
        else:
            return
        age = GaugeMetricFamily("esper_run_seconds_since_last_event",
                                "Seconds since the run's last event", labels=["run_id"])
        findings = GaugeMetricFamily("esper_run_findings",
                                     "Active health findings of the run, by rule and severity",
                                     labels=["run_id", "rule", "severity"])
        episodes = GaugeMetricFamily("esper_run_episodes", "Episodes completed",
                                     labels=["run_id"])
        reward = GaugeMetricFamily("esper_run_reward",
                                   "Mean reward of the run's latest batch", labels=["run_id"])
        for run in runs:
            rid = run.run_id
            if run.last_event_time is not None:
                age.add_metric([rid], max(0.0, now - run.last_event_time))
            for (rule, sev), n in _levels(run, now).items():
                findings.add_metric([rid, rule, sev], n)
            batch = run.state.run.last_batch
            if run.state.run.HasField("last_batch"):
                episodes.add_metric([rid], batch.episodes_completed)
                reward.add_metric([rid], batch.avg_reward)
        yield from (age, findings, episodes, reward)
