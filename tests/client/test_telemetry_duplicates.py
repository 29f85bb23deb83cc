"""A producer learns when sanctum does not apply its events as duplicates (a second process
reusing a producer id), and default producer ids do not collide across job restarts."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from testkit import ThreadedSanctum
from tests.client.test_telemetry_client_sanctum import client_for, run_events
from trainer_svc.distributed import DistInfo


@pytest.fixture
def sanctum() -> ThreadedSanctum:
    with ThreadedSanctum() as s:
        yield s


def test_a_second_process_reusing_a_producer_id_is_told_loudly(
        sanctum: ThreadedSanctum, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    events = run_events("dup", n_batches=2)
    with client_for(sanctum.address, "dup", tmp_path / "a") as first:
        for ev in events:
            first.emit(ev)
    assert first.stats()["duplicate"] == 0
    applied = sanctum.snapshot("dup").delivery.events_applied
    caplog.set_level(logging.WARNING, logger="esper_client")
    second = client_for(sanctum.address, "dup", tmp_path / "b")  # same producer id
    second.start()
    for ev in run_events("dup", n_batches=1):
        second.emit(ev)
    second.close()
    stats = second.stats()
    assert stats["duplicate"] + stats["conflicting"] > 0
    assert sanctum.snapshot("dup").delivery.events_applied == applied  # none applied
    text = caplog.text
    assert "NOT applied" in text and "another process used this producer id" in text.lower()


def test_default_producer_ids_differ_per_start() -> None:
    import subprocess
    import sys
    code = ("from trainer_svc.distributed import DistInfo; "
            "print(DistInfo(rank=1, world_size=2).producer_id())")
    ids = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() for _ in range(2)}
    assert len(ids) == 2 and all("-rank1-" in i for i in ids)
    assert DistInfo().producer_id() == DistInfo().producer_id()  # stable within a process
