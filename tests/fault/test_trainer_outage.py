"""Issue 4: stop sanctum for part of a training run and restart it — the run goes on, and
the final aggregated state equals that of the same run (same seed) with no outage.

Two real `esper-trainer` processes with the same seed train the same policy (telemetry
never changes training results); each streams to its own sanctum process. The second
sanctum is killed (-9) a third of the way through and restarted on its store 2 s later.
Only what depends on the wall clock may differ between the two snapshots.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest

from esper.sanctum.v2 import sanctum_pb2 as spb
from testkit import SanctumProcess, comparable, wait_until
from tests.fault.test_sanctum_crash import snapshot_at

pytestmark = pytest.mark.fault
ROOT = Path(__file__).resolve().parents[2]
EPISODES = 192
RUN = "outage-run"


def _trainer(address: str, spool: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "trainer_svc", "--sanctum", address, "--run-id", RUN,
         "--episodes", str(EPISODES), "--envs", "4", "--seed", "11", "--quiet",
         "--spool-dir", str(spool)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _progress(address: str) -> spb.SanctumSnapshot:
    """The run's snapshot, or an empty one before its first event arrived."""
    try:
        return snapshot_at(address, RUN)
    except grpc.RpcError as err:
        if err.code() != grpc.StatusCode.NOT_FOUND:
            raise
        return spb.SanctumSnapshot()


def training_state(snap: spb.SanctumSnapshot) -> spb.SanctumSnapshot:
    """The snapshot without what depends on wall-clock time or on delivery retries."""
    out = comparable(snap)
    for name in ("vitals", "delivery"):
        out.ClearField(name)
    out.run.completion.ClearField("wall_time_s")
    for group in out.tamiyo.groups:
        for update in (group.last_update, group.last_measured):
            for name in ("update_time_ms", "fps", "step_time_ms"):  # wall-clock values
                update.ClearField(name)
    for entry in out.event_log.entries:
        entry.ClearField("timestamp")
    return out


def test_sanctum_outage_mid_run_leaves_the_same_final_state(tmp_path: Path) -> None:
    reference = SanctumProcess(store=str(tmp_path / "ref.sqlite"))
    faulty = SanctumProcess(store=str(tmp_path / "faulty.sqlite"))
    reference.start()
    faulty.start()
    try:
        ref_run = _trainer(reference.address, tmp_path / "spool-ref")
        run = _trainer(faulty.address, tmp_path / "spool")
        wait_until(lambda: _progress(faulty.address),
                   lambda s: s.run.last_batch.episodes_completed >= EPISODES // 3, timeout=90)
        faulty.kill()
        time.sleep(2.0)
        assert run.poll() is None, "training must go on while sanctum is down"
        faulty.start()
        out, _ = run.communicate(timeout=180)
        assert run.returncode == 0, out[-3000:]
        ref_out, _ = ref_run.communicate(timeout=180)
        assert ref_run.returncode == 0, ref_out[-3000:]

        got = snapshot_at(faulty.address, RUN)
        want = snapshot_at(reference.address, RUN)
        assert got.run.status == want.run.status == spb.RUN_STATUS_COMPLETED
        assert got.run.last_batch.episodes_completed == EPISODES
        for d in (got.delivery, want.delivery):
            assert d.gap_events == 0 and d.producer_dropped == 0 and d.events_rejected == 0
            assert d.events_applied == d.producers[0].last_seq
        assert training_state(got) == training_state(want)
    finally:
        for proc in ("run", "ref_run"):
            p = locals().get(proc)
            if p is not None and p.poll() is None:
                p.kill()
        faulty.terminate()
        reference.terminate()
