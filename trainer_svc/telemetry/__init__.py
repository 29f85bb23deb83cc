"""Trainer telemetry client: non-blocking emit, background batching sender, spool, resume.

Public API: TelemetryConfig, TelemetryClient, NullTelemetry, install_signal_flush.
Delivery is at-least-once with sanctum applying by (run_id, producer_id, seq) exactly once;
see sender.py (resume), buffer.py (memory -> spool), policy.py (what is dropped, and when).
"""

from __future__ import annotations

from trainer_svc.telemetry.client import NullTelemetry, TelemetryClient
from trainer_svc.telemetry.config import TelemetryConfig
from trainer_svc.telemetry.signals import install_signal_flush

__all__ = ["NullTelemetry", "TelemetryClient", "TelemetryConfig", "install_signal_flush"]
