"""`torchrun --nproc_per_node 2` (gloo on CPU): two ranks, one run, one policy, distinct envs."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from esper.sanctum.v2 import sanctum_pb2 as spb
from testkit import ThreadedSanctum

pytestmark = pytest.mark.slow


def test_two_ranks_stream_one_run(tmp_path) -> None:
    run_id = "dist-run"
    with ThreadedSanctum() as server:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node", "2", "-m", "trainer_svc", "--sanctum", server.address,
               "--run-id", run_id, "--episodes", "8", "--envs", "2", "--max-epochs", "4",
               "--ppo-epochs", "2", "--quiet", "--spool-dir", str(tmp_path),
               "--save", str(tmp_path / "policy.pt")]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=150, env=env)
        assert proc.returncode == 0, proc.stderr[-3000:]
        snap = server.snapshot(run_id)
    assert snap.run.status == spb.RUN_STATUS_COMPLETED
    assert snap.run.config.world_size == 2 and snap.run.config.n_envs == 4
    assert snap.run.last_batch.episodes_completed == 8
    assert sorted(e.env_id for e in snap.envs.envs) == [0, 1, 2, 3]
    producers = {p.producer_id for p in snap.delivery.producers}
    assert len(producers) == 2 and all("-rank" in p for p in producers)
    assert snap.delivery.gap_events == 0 and snap.delivery.events_rejected == 0
    assert (tmp_path / "policy.pt").exists()
