"""Small message helpers shared by the aggregator and its handlers."""

from __future__ import annotations

from google.protobuf import timestamp_pb2

from esper.telemetry.v1 import telemetry_pb2 as tpb

#: Most recent decision cards kept per run.
RECENT_DECISIONS = 16


def set_time(ts: timestamp_pb2.Timestamp, seconds: float) -> None:
    """Set a Timestamp from unix seconds (deterministic rounding to nanoseconds)."""
    ts.FromNanoseconds(round(seconds * 1e9))


def event_time(ts: timestamp_pb2.Timestamp, event: tpb.TelemetryEvent, received_at: float) -> None:
    """Set `ts` to the producer's timestamp, or the receive time when it sent none."""
    if event.HasField("timestamp"):
        ts.CopyFrom(event.timestamp)
    else:
        set_time(ts, received_at)
