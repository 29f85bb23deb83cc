"""The wheel ships the services and the generated contracts, never the test support."""

from __future__ import annotations

import tomllib
from pathlib import Path

from setuptools import find_packages

ROOT = Path(__file__).resolve().parents[2]


def test_testkit_and_tests_are_not_packaged() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    find = config["tool"]["setuptools"]["packages"]["find"]
    packages = {p for where in find["where"]
                for p in find_packages(where=str(ROOT / where), include=find["include"])}
    assert {"sanctum_svc", "trainer_svc", "tui_client", "esper_common", "esper.sanctum.v2"} <= (
        packages)
    assert not {p for p in packages if p.split(".")[0] in ("testkit", "tests", "bench")}
