"""Test support, not shipped (the wheel leaves it out): real sanctum servers, and one factory
of telemetry events and snapshots shared by the tests and the benchmarks."""

from testkit.events import RUN, Producer, build_run_events, realistic_run, run_config
from testkit.servers import SanctumProcess, ThreadedSanctum, batches, free_port
from testkit.snapshots import NOW, comparable, sample_snapshot
from testkit.wait import wait_for, wait_until

__all__ = [
    "NOW", "RUN", "Producer", "SanctumProcess", "ThreadedSanctum", "batches",
    "build_run_events", "comparable", "free_port", "realistic_run", "run_config",
    "sample_snapshot", "wait_for", "wait_until",
]
