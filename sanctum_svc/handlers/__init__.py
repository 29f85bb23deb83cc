"""Event handlers of the aggregator, grouped by topic; importing this fills HANDLERS."""

from __future__ import annotations

from sanctum_svc.handlers import (  # noqa: F401
    alerts,
    decisions,
    envs,
    metrics,
    ppo,
    run,
    seeds,
)
from sanctum_svc.handlers.registry import HANDLERS, Handler, handles

__all__ = ["HANDLERS", "Handler", "handles"]
