"""The wheel ships the services and the generated contracts, never the test support."""

from __future__ import annotations

import tomllib
from pathlib import Path

from setuptools import find_namespace_packages, find_packages

ROOT = Path(__file__).resolve().parents[2]


def test_testkit_and_tests_are_not_packaged() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    find = config["tool"]["setuptools"]["packages"]["find"]
    # pyproject's find defaults to namespaces = true: gen/python's `esper` and `buf` are
    # namespace packages so that the original system's own `esper` package can coexist.
    finder = find_namespace_packages if find.get("namespaces", True) else find_packages
    packages = {p for where in find["where"]
                for p in finder(where=str(ROOT / where), include=find["include"])}
    assert {"sanctum_svc", "trainer_svc", "tui_client", "esper_common", "esper_client",
            "esper.sanctum.v2", "esper.telemetry.v1", "buf.validate"} <= (
        packages)
    assert not {p for p in packages if p.split(".")[0] in ("testkit", "tests", "bench")}
