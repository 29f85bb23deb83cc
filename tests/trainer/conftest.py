"""Trainer test helpers: a real in-memory event sink and a tiny, fast run configuration."""

from __future__ import annotations

import signal
from typing import Any

import pytest
import torch

from esper.telemetry.v1 import telemetry_pb2 as tpb
from trainer_svc.config import TrainerConfig

torch.set_num_threads(1)


class ListSink:
    """Collects events, filling the envelope as the telemetry client does (run, producer, seq)."""

    def __init__(self, run_id: str = "run-test", producer_id: str = "trainer-test") -> None:
        self.run_id, self.producer_id = run_id, producer_id
        self.events: list[tpb.TelemetryEvent] = []

    def emit(self, event: tpb.TelemetryEvent) -> None:
        event.run_id, event.producer_id = self.run_id, self.producer_id
        event.seq = len(self.events) + 1
        self.events.append(event)

    def of(self, field: str) -> list[tpb.TelemetryEvent]:
        return [e for e in self.events if e.WhichOneof("payload") == field]


def tiny_config(**overrides: Any) -> TrainerConfig:
    """A run of a second or two: 3 batches of 2 envs x 6 epochs, small PPO."""
    base = dict(episodes=6, envs=2, seed=3, max_epochs=6, ppo_epochs=2, n_minibatches=2,
                diagnostics_every=2, analytics_every=3, vitals_every_s=0.0)
    base.update(overrides)
    return TrainerConfig(**base)


@pytest.fixture
def sink() -> ListSink:
    return ListSink()


@pytest.fixture
def restore_signals():
    """Put SIGINT/SIGTERM handlers back after a test that runs the CLI (it installs its own)."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for s, h in saved.items():
        signal.signal(s, h)
