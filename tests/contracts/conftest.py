"""Fixtures of the contract tests."""

from __future__ import annotations

import time

import pytest

from tests.contracts.freshvenv import Venv, make_all


@pytest.fixture(scope="session")
def fresh_venvs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Venv]:
    """{extra: a fresh venv holding esper-sanctum[extra]} ("" = the bare package)."""
    started = time.monotonic()
    venvs = make_all(tmp_path_factory.mktemp("extras"))
    print(f"\nfresh venvs for {len(venvs)} extras in {time.monotonic() - started:.1f}s: "
          + ", ".join(f"{e or 'core'} {v.seconds:.0f}s {v.size_mb():.0f} MB"
                      for e, v in venvs.items()))
    return venvs
