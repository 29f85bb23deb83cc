"""Trend detection over batch averages: improvement, plateau or degradation of the reward.

A least-squares slope over the last `window` batch rewards classifies the trend; an
event is due only when the class changes, so a steady state does not flood the log.
"""

from __future__ import annotations

from collections import deque

from esper.telemetry.v1 import telemetry_pb2 as tpb

ET = tpb.EventType


def slope(values: list[float]) -> float:
    """Least-squares slope of values against their index (0.0 for fewer than 2)."""
    n = len(values)
    if n < 2:
        return 0.0
    mx, my = (n - 1) / 2, sum(values) / n
    num = sum((i - mx) * (v - my) for i, v in enumerate(values))
    den = sum((i - mx) ** 2 for i in range(n))
    return num / den


class TrendTracker:
    """Keeps recent batch rewards/accuracies and reports trend changes."""

    def __init__(self, window: int = 5, threshold: float = 0.02) -> None:
        self.window, self.threshold = window, threshold
        self.rewards: deque[float] = deque(maxlen=window)
        self.accuracies: deque[float] = deque(maxlen=window)
        self.state: tpb.EventType | None = None

    def add(self, reward: float) -> None:
        self.rewards.append(reward)

    def rolling_mean_accuracy(self, accuracy: float) -> float:
        self.accuracies.append(accuracy)
        return sum(self.accuracies) / len(self.accuracies)

    def classify(self, s: float) -> tpb.EventType:
        if s > self.threshold:
            return ET.EVENT_TYPE_IMPROVEMENT_DETECTED
        if s < -self.threshold:
            return ET.EVENT_TYPE_DEGRADATION_DETECTED
        return ET.EVENT_TYPE_PLATEAU_DETECTED

    def change(self) -> tuple[tpb.EventType, float] | None:
        """(event type, slope) when the trend class changed; None until the window fills."""
        if len(self.rewards) < self.window:
            return None
        s = slope(list(self.rewards))
        kind = self.classify(s)
        if kind == self.state:
            return None
        self.state = kind
        return kind, s
