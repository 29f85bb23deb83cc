"""Derived values the seed plans define as properties, as functions over messages.

One schema: these read the generated messages; there is no mirror class to drift.
"""

from __future__ import annotations

from typing import Literal

from esper.sanctum.v2 import sanctum_pb2
from esper.telemetry.v1 import telemetry_pb2

CvStatus = Literal["stable", "warn", "BAD"]

LIVE_SECONDS = 2.0
SLOW_SECONDS = 5.0


def memory_usage_percent(measured: telemetry_pb2.PPOUpdatePayload) -> float | None:
    """CUDA memory in use as a percentage: allocated / reserved × 100, from a PPO update's
    (or a policy group's last measured) CUDA fields.

    None when memory was not measured (CPU run); 0.0 when reserved ≤ 0, as in the seed plan.
    """
    if not (measured.HasField("cuda_memory_allocated_gb")
            and measured.HasField("cuda_memory_reserved_gb")):
        return None
    if measured.cuda_memory_reserved_gb <= 0:
        return 0.0
    return measured.cuda_memory_allocated_gb / measured.cuda_memory_reserved_gb * 100.0


def valid_actions(choice: telemetry_pb2.HeadChoice) -> int | None:
    """How many of the head's actions were valid at that decision (the popcount of its
    valid_mask; 1 for a head only marked `forced`); None when the head did not matter for
    the op or its producer recorded no mask (a chosen action was valid, so an empty mask
    means "not recorded"). 1 means the choice was forced: the original system's
    `<head>_masked` flag."""
    if not choice.relevant:
        return None
    if choice.valid_mask:
        return bin(choice.valid_mask).count("1")
    return 1 if choice.forced else None


def gradient_cv_status(cv: float) -> CvStatus:
    """Gradient coefficient of variation band: stable < 0.5, warn < 2.0, else BAD."""
    if cv < 0.5:
        return "stable"
    if cv < 2.0:
        return "warn"
    return "BAD"


def liveness_for_age(seconds_since_last_event: float) -> sanctum_pb2.Liveness:
    """LIVE under 2 s since the last event, SLOW under 5 s, else STALE."""
    if seconds_since_last_event < LIVE_SECONDS:
        return sanctum_pb2.LIVENESS_LIVE
    if seconds_since_last_event < SLOW_SECONDS:
        return sanctum_pb2.LIVENESS_SLOW
    return sanctum_pb2.LIVENESS_STALE


#: Statuses of a run that ended (nothing more will come from its trainer).
FINISHED = frozenset({sanctum_pb2.RUN_STATUS_COMPLETED, sanctum_pb2.RUN_STATUS_STOPPED,
                      sanctum_pb2.RUN_STATUS_FAILED})


def ended_status(reported: str) -> sanctum_pb2.RunStatus:
    """The RunStatus of a trainer's completion status: "completed" (or nothing) is COMPLETED,
    "error: ..." is FAILED, anything else ("interrupted", "stopped: ...") is STOPPED."""
    kind = reported.partition(":")[0].strip().lower()
    if kind in ("", "completed"):
        return sanctum_pb2.RUN_STATUS_COMPLETED
    if kind in ("error", "failed"):
        return sanctum_pb2.RUN_STATUS_FAILED
    return sanctum_pb2.RUN_STATUS_STOPPED


def status_name(status: sanctum_pb2.RunStatus) -> str:
    """RUN_STATUS_STOPPED -> "stopped"; "—" when the server did not say."""
    if status == sanctum_pb2.RUN_STATUS_UNSPECIFIED:
        return "—"
    try:
        return sanctum_pb2.RunStatus.Name(status).removeprefix("RUN_STATUS_").lower()
    except ValueError:  # a status newer than this client
        return f"status {int(status)}"
