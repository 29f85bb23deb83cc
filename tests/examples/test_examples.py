"""The examples run as printed, against a live sanctum."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from esper.sanctum.v2 import sanctum_pb2 as spb
from testkit import ThreadedSanctum
from tests.bridge.original import FIXTURE, counts, records

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "examples" / script), *args],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)


def test_a_plain_pytorch_loop_streams_with_log(sanctum: ThreadedSanctum) -> None:
    done = _run("train_torch.py", "--server", sanctum.address, "--run-id", "spiral",
                "--steps", "200")
    assert done.returncode == 0, done.stderr
    snap = sanctum.snapshot("spiral")
    assert snap.run.status == spb.RUN_STATUS_COMPLETED
    assert ("lr", "0.03") in [(h.name, h.value) for h in snap.run.config.hyperparameters]
    assert list(snap.run.config.tags) == ["example", "spiral"]
    assert snap.delivery.events_applied == 1 + 200 + 1
    tracks = sanctum.server.aggregator.get("spiral").metrics.tracks  # type: ignore[union-attr]
    loss, accuracy = tracks[("", None, "loss")], tracks[("", None, "accuracy")]
    assert loss.step == accuracy.step == 199
    assert loss.value < 0.5 * loss.history[0] and accuracy.value > 0.8  # it learned
    assert f"final loss {loss.value:.3f}" in done.stdout


def test_the_hub_bridge_example_streams_a_recorded_run(sanctum: ThreadedSanctum) -> None:
    done = _run("original_hub.py", str(FIXTURE), "--server", sanctum.address)
    assert done.returncode == 0, done.stderr
    recs = records(FIXTURE)
    start = next(r for r in recs if r["event_type"] == "TRAINING_STARTED")
    snap = sanctum.snapshot()
    assert start["data"]["episode_id"] in snap.run_id
    assert snap.lifecycle.germinated == counts(recs)["SEED_GERMINATED"]
    assert f"replayed {len(recs):,} events" in done.stdout
