"""Event handlers of the aggregator, grouped by topic; importing this fills HANDLERS."""

from __future__ import annotations

from sanctum_svc.handlers import alerts, decisions, envs, ppo, run, seeds  # noqa: F401
from sanctum_svc.handlers.registry import HANDLERS, Handler, handles

__all__ = ["HANDLERS", "Handler", "handles"]
