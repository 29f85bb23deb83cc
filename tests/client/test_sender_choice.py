"""TelemetryConfig.sender_process="auto": a sender process when this process may use 2+ CPUs
(its affinity mask, capped by a cgroup CPU quota), the sender thread otherwise."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from esper_client import TelemetryClient, TelemetryConfig
from esper_client.config import _cgroup_quota, usable_cpus


def _config(tmp_path, sender_process) -> TelemetryConfig:  # noqa: ANN001
    return TelemetryConfig(None, run_id="r", producer_id="p", sender_process=sender_process,
                           file_path=str(tmp_path / "run.events"),
                           spool_dir=str(tmp_path / "spool"))


@contextmanager
def one_cpu() -> Iterator[None]:
    """The calling thread (what sched_getaffinity(0) reads) on one CPU, then restored."""
    mask = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(mask)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, mask)


@pytest.mark.parametrize(("files", "expected"), [
    ({"cpu.max": "max 100000\n"}, None),
    ({"cpu.max": "100000 100000\n"}, 1),
    ({"cpu.max": "150000 100000\n"}, 2),  # 1.5 CPUs: a process still has a spare one
    ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
    ({"cpu/cpu.cfs_quota_us": "50000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 1),
    ({"cpu.max": "garbage\n"}, None),
    ({}, None),
])
def test_cgroup_quota_is_read_from_v2_then_v1(tmp_path, files, expected) -> None:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert _cgroup_quota(str(tmp_path)) == expected


def test_auto_follows_the_cpus_this_process_may_use(tmp_path) -> None:
    cfg = _config(tmp_path, "auto")
    assert cfg.uses_sender_process() == (usable_cpus() >= 2)
    with one_cpu():
        assert usable_cpus() == 1
        assert not cfg.uses_sender_process()
    assert _config(tmp_path, True).uses_sender_process()
    assert not _config(tmp_path, False).uses_sender_process()


def test_auto_on_one_cpu_starts_the_sender_thread(tmp_path) -> None:
    with one_cpu():
        client = TelemetryClient(_config(tmp_path, "auto"))
        client.start()
    try:
        assert client._sidecar is None and client._thread is not None
    finally:
        client.close(10)


@pytest.mark.skipif(usable_cpus() < 2, reason="needs 2+ usable CPUs")
def test_auto_with_a_spare_cpu_starts_the_sender_process(tmp_path) -> None:
    client = TelemetryClient(_config(tmp_path, "auto"))
    client.start()
    try:
        sidecar = client._sidecar
        assert sidecar is not None and sidecar.ready.wait(30) and sidecar._proc is not None
        assert sidecar.fallback is None
    finally:
        client.close(10)


def test_a_bad_choice_is_refused_up_front(tmp_path) -> None:
    with pytest.raises(ValueError, match="sender_process must be True, False or 'auto'"):
        _config(tmp_path, "yes")
