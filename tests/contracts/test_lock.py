"""constraints.txt is the one place with exact versions: it pins what this environment runs,
within the compatible ranges pyproject.toml declares (which pin nothing exactly)."""

from __future__ import annotations

import importlib.metadata
import re
import sysconfig
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
#: Chosen per machine (Makefile TORCH_SPEC / TORCH_INDEX_URL), not locked.
UNLOCKED = re.compile(r"^(torch|triton|nvidia-(?!ml-py$).*|cuda-.*|pip|esper-sanctum)$")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins() -> dict[str, str]:
    out = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not NAME==VERSION"
            out[canonical(name)] = version
    return out


def requirements() -> list[Requirement]:
    reqs = [Requirement(r) for r in PYPROJECT["dependencies"]]
    for extra in PYPROJECT["optional-dependencies"].values():
        reqs += [Requirement(r) for r in extra]
    return [r for r in reqs if canonical(r.name) != "esper-sanctum"]


def test_metadata_declares_ranges_not_pins() -> None:
    for req in requirements():
        assert not any(s.operator in ("==", "===") for s in req.specifier), str(req)
    for req in (Requirement(r) for r in PYPROJECT["dependencies"]):
        assert req.specifier, f"{req.name}: a runtime requirement needs a floor"


def test_every_pin_is_within_the_declared_range() -> None:
    locked = pins()
    for req in requirements():
        name = canonical(req.name)
        if not UNLOCKED.match(name):
            assert name in locked, f"{name} is required but not pinned in constraints.txt"
            assert req.specifier.contains(Version(locked[name]), prereleases=True), \
                f"{name}=={locked[name]} is outside {req}"


def test_this_environment_runs_the_pinned_versions() -> None:
    """`make setup` installs with -c constraints.txt: the tests run what is locked, and the
    lock names everything installed (so an image installs the same set)."""
    # Only this environment's own site-packages: importing setuptools (another test does)
    # puts its vendored copies, with their own dist-info, on sys.path.
    site = sysconfig.get_paths()["purelib"]
    installed = {canonical(d.metadata["Name"]): d.version
                 for d in importlib.metadata.distributions(path=[site])}
    locked = pins()
    for name, version in locked.items():
        if name in installed:
            assert installed[name] == version, f"{name}: {installed[name]} != pin {version}"
    unpinned = {n for n in installed if n not in locked and not UNLOCKED.match(n)}
    assert not unpinned - {"setuptools", "wheel"}, f"installed but not locked: {unpinned}"
