"""Hysteresis of one rule on one subject (group, head): when a finding rises and clears."""

from __future__ import annotations

from dataclasses import dataclass

from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_common.health_rules import Rule


@dataclass
class Track:
    """Consecutive evaluations past / inside the thresholds, and the finding while active."""

    rule: Rule
    group_id: str
    head: tpb.ActionHead = tpb.ACTION_HEAD_UNSPECIFIED
    over: int = 0
    under: int = 0
    level: int = 0
    observed: float = 0.0
    threshold: float = 0.0
    since: float = 0.0
    since_update: int = 0

    def step(self, lvl: int, bound: float | None, value: float, now: float,
             update: int) -> int:
        """Feed one evaluation; returns +1 on a rising edge, -1 on a falling one, else 0."""
        rule = self.rule
        self.observed = value
        if lvl > 0:
            self.over += 1
            self.under = 0
            if self.over >= rule.rise_after:
                rising = self.level == 0
                self.level = lvl
                self.threshold = bound if bound is not None else 0.0
                if rising:
                    self.since, self.since_update = now, update
                    return 1
            return 0
        self.under += 1
        self.over = 0
        if self.level and self.under >= rule.clear_after:
            self.level = 0
            return -1
        return 0
