"""A trainer SIGKILLed mid-run: sanctum marks the run STALE within 5 s of its last event and
keeps serving it (GetSnapshot, ListRuns, a new subscriber)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper_common.derived import SLOW_SECONDS
from testkit import ThreadedSanctum
from tests.sanctum.watch import Watcher

pytestmark = pytest.mark.fault

RUN = "doomed"
#: Scheduling slack on a shared 2-core machine, on top of the 5 s STALE threshold.
SLACK_S = 2.0


def test_trainer_killed_mid_batch_goes_stale_and_stays_served(tmp_path: Path) -> None:
    with ThreadedSanctum(heartbeat_s=0.25) as server:
        trainer = subprocess.Popen(
            [sys.executable, "-m", "trainer_svc", "--sanctum", server.address,
             "--episodes", "4000", "--envs", "2", "--seed", "9", "--run-id", RUN, "--quiet",
             "--spool-dir", str(tmp_path / "spool")],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            with Watcher(server, RUN, max_hz=10) as watcher:
                # Mid-run: a few batches done and epochs of the next one arriving.
                live = watcher.wait_for(lambda s: s.run.last_batch.episodes_completed >= 4
                                        and s.run.liveness == spb.LIVENESS_LIVE, timeout=90)
                assert live is not None, "the trainer never got going"
                assert trainer.poll() is None
                trainer.send_signal(signal.SIGKILL)
                killed_at = time.monotonic()
                trainer.wait(10)

                # Heartbeats carry the liveness of a run that stopped changing.
                stale_at = None
                seen: list[int] = []
                deadline = killed_at + SLOW_SECONDS + SLACK_S
                while time.monotonic() < deadline:
                    hb = watcher.heartbeats()
                    seen = [h.liveness for h in hb]
                    if spb.LIVENESS_STALE in seen:
                        stale_at = time.monotonic()
                        break
                    time.sleep(0.05)
                assert stale_at is not None, f"not STALE in {SLOW_SECONDS + SLACK_S} s: {seen}"
                # It passed through SLOW on the way (LIVE < 2 s, SLOW < 5 s, then STALE).
                assert spb.LIVENESS_SLOW in seen
                assert not watcher.ended.is_set(), "the subscription must stay open"
                applied = live.delivery.events_applied
        finally:
            if trainer.poll() is None:
                trainer.kill()
                trainer.wait(10)

        # Still served: snapshot, run list, and a brand-new subscriber.
        snap = server.snapshot(RUN)
        assert snap.run.liveness == spb.LIVENESS_STALE
        assert snap.run.seconds_since_last_event >= SLOW_SECONDS
        assert snap.run.status == spb.RUN_STATUS_RUNNING  # never completed
        assert snap.delivery.events_applied >= applied
        with server.channel() as ch:
            runs = server.stub(ch).ListRuns(spb.ListRunsRequest(), timeout=5).runs
        summary = next(r for r in runs if r.run_id == RUN)
        assert summary.liveness == spb.LIVENESS_STALE
        assert summary.events_applied == snap.delivery.events_applied
        with Watcher(server, RUN) as late:
            first = late.wait_for(lambda s: True, timeout=10)
        assert first is not None and first.run.liveness == spb.LIVENESS_STALE
        assert first.delivery.events_applied == snap.delivery.events_applied
        assert first.tamiyo.groups[0].HasField("last_update") and first.envs.envs
        # And sanctum still takes new work.
        with server.channel() as ch:
            health = server.stub(ch).GetResumeCursor(
                spb.GetResumeCursorRequest(run_id=RUN), timeout=5)
        assert health.cursors[0].last_seq == snap.delivery.events_applied + \
            snap.delivery.gap_events


def test_killed_trainer_stream_leaves_no_open_ingest(tmp_path: Path) -> None:
    """A producer killed mid-stream does not wedge the server: another producer's stream for
    the same run id (a restarted trainer) resumes from the cursor."""
    with ThreadedSanctum() as server:
        trainer = subprocess.Popen(
            [sys.executable, "-m", "trainer_svc", "--sanctum", server.address,
             "--episodes", "4000", "--envs", "2", "--seed", "4", "--run-id", "again",
             "--quiet", "--spool-dir", str(tmp_path / "spool")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                try:
                    if server.snapshot("again").delivery.events_applied > 100:
                        break
                except grpc.RpcError:
                    pass
                time.sleep(0.05)
            trainer.send_signal(signal.SIGKILL)
            trainer.wait(10)
        finally:
            if trainer.poll() is None:
                trainer.kill()
        cursor = server.cursor("again")
        assert cursor and all(seq > 100 for seq in cursor.values())
        from testkit import build_run_events

        # The restarted producer declares the run as it was declared (a run's declaration
        # cannot change) and goes on with run-level events.
        declared = server.snapshot("again").run.config
        more = [e for e in build_run_events("again", producer_id="restarted", n_batches=1)
                if not e.HasField("env_id") and e.WhichOneof("payload") != "analytics_snapshot"]
        more[0].training_started.config.CopyFrom(declared)
        for seq, ev in enumerate(more, 1):
            ev.seq = seq
        assert server.ingest(more).events_applied == len(more)
