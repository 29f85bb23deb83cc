"""Shared fixtures: a real sanctum on a loopback port, and a factory of valid events."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from esper.telemetry.v1 import telemetry_pb2 as tpb
from testkit import ThreadedSanctum, build_run_events


@pytest.fixture(autouse=True)
def _no_user_configuration(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
                           ) -> None:
    """Tests see no ESPER_* variable and no config file of the person running them (a test
    sets its own); subprocesses inherit the same clean environment."""
    import os

    for name in [n for n in os.environ if n.startswith("ESPER_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.getbasetemp() / "xdg-config"))


@pytest.fixture
def sanctum() -> Iterator[ThreadedSanctum]:
    """A started ThreadedSanctum (in-memory store) at `sanctum.address`, stopped after."""
    with ThreadedSanctum() as server:
        yield server


@pytest.fixture(scope="session")
def shared_sanctum() -> Iterator[ThreadedSanctum]:
    """One sanctum for the whole session, for tests that touch only run ids of their own. It
    holds every such test's runs: a test that lists runs or watches "the latest" run uses a
    fresh `sanctum` instead."""
    with ThreadedSanctum() as server:
        yield server


@pytest.fixture
def make_events() -> Callable[..., list[tpb.TelemetryEvent]]:
    """`make_events(run_id="run-1", producer_id="trainer-0", n_batches=2, start_seq=1, ...)`:
    a realistic valid run (see testkit.events.build_run_events)."""

    def factory(*args: Any, **kwargs: Any) -> list[tpb.TelemetryEvent]:
        return build_run_events(*args, **kwargs)

    return factory
