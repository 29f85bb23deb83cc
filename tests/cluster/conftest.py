"""A local 3-server NATS JetStream cluster per test (the nats-server wheel of the cluster
extra); the tests skip with the reason where it is not installed, and fail in CI."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sanctum_svc.cluster.launch import LaunchError, NatsCluster, nats_server_binary


@pytest.fixture
def nats_binary() -> str:
    try:
        return nats_server_binary()
    except LaunchError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(exc))


@pytest.fixture
def nats_cluster(tmp_path: Path, nats_binary: str) -> Iterator[NatsCluster]:
    with NatsCluster(tmp_path / "nats") as cluster:
        yield cluster
