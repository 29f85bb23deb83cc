"""`esper_client.init` against a real sanctum: the run's declaration, how it ended, the flush
at interpreter exit, and a sanctum that is not there."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

import esper_client
from esper.sanctum.v2 import sanctum_pb2 as spb
from testkit import ThreadedSanctum, free_port


def test_a_run_declares_its_config_and_tags_and_says_it_completed(sanctum) -> None:
    config = {"lr": 3e-4, "batch_size": 64, "optimizer": "adamw", "seed": 7, "task": "mnist"}
    with esper_client.init(server=sanctum.address, run_id="cfg", config=config,
                           tags=["baseline", "v2"]) as run:
        run.epoch_completed(val_accuracy=0.5, val_loss=1.25, env_id=0, epoch=1)
    snap = sanctum.snapshot("cfg")
    cfg = snap.run.config
    assert [(h.name, h.value) for h in cfg.hyperparameters] == [
        ("lr", "0.0003"), ("batch_size", "64"), ("optimizer", "adamw"), ("seed", "7"),
        ("task", "mnist")]
    assert list(cfg.tags) == ["baseline", "v2"]
    assert (cfg.lr, cfg.seed, cfg.task) == (3e-4, 7, "mnist")  # keys naming RunConfig fields
    assert snap.run.status == spb.RUN_STATUS_COMPLETED
    assert run.stats()["acked"] == 3


@pytest.mark.parametrize(("raised", "status", "reason"), [
    (RuntimeError("loss exploded"), spb.RUN_STATUS_FAILED, "error: RuntimeError: loss exploded"),
    (KeyboardInterrupt(), spb.RUN_STATUS_STOPPED, "interrupted"),
])
def test_leaving_the_block_on_an_exception_says_why(sanctum, raised, status, reason) -> None:
    with pytest.raises(type(raised)), esper_client.init(server=sanctum.address,
                                                         run_id="ended") as run:
        run.epoch_completed(val_accuracy=0.5, env_id=0, epoch=1)
        raise raised
    snap = sanctum.snapshot("ended")
    assert snap.run.status == status and snap.run.completion.status == reason


SCRIPT = """
import sys, esper_client
run = esper_client.init(server=sys.argv[1], run_id="exit-flush")
for step in range(200):
    run.epoch_completed(val_accuracy=step / 200, env_id=0, epoch=step)
# no finish(), no close(): the interpreter exits
"""


def test_events_are_flushed_at_interpreter_exit(sanctum) -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT, sanctum.address],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    snap = sanctum.snapshot("exit-flush")
    assert snap.delivery.events_applied == 201
    assert snap.run.status == spb.RUN_STATUS_RUNNING  # it did not say it ended


def test_no_sanctum_does_not_stop_training(tmp_path: Path) -> None:
    """Nobody listens: emitting still returns, close is bounded, and what could not be
    delivered is kept in an event file for `esper-sanctum ingest`."""
    run = esper_client.init(server=f"127.0.0.1:{free_port()}", run_id="offline",
                            spool_dir=str(tmp_path), backoff_max_s=0.2)
    for step in range(1000):
        run.epoch_completed(val_accuracy=0.5, env_id=0, epoch=step)
    started = time.monotonic()
    run.finish(timeout=1.0)
    assert time.monotonic() - started < 10
    stats = run.stats()
    assert stats["acked"] == 0 and stats["undelivered"] == 1002
    undelivered = list(tmp_path.glob("*.undelivered.events"))
    assert undelivered
    with ThreadedSanctum() as later:
        loaded = subprocess.run([sys.executable, "-m", "sanctum_svc", "ingest",
                                 str(undelivered[0]), "--server", later.address],
                                capture_output=True, text=True, timeout=60)
        assert loaded.returncode == 0, loaded.stderr
        assert later.snapshot("offline").delivery.events_applied == 1002
