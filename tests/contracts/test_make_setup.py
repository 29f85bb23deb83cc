"""`make setup TORCH_SPEC=...` makes the installed torch follow the spec, or refuses with the
command that fixes it. Nothing is downloaded: a throwaway venv gets fake `torch` wheels from a
local folder (`TORCH_PIP_ARGS=--isolated --no-index --find-links DIR`: no pip config either)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("make") is None, reason="needs make")]


def fake_torch_wheel(folder: Path, version: str) -> Path:
    """A minimal installable wheel named torch (no code but a version)."""
    dist = f"torch-{version}.dist-info"
    path = folder / f"torch-{version}-py3-none-any.whl"
    files = {
        "torch/__init__.py": f"__version__ = {version!r}\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: torch\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                         "Tag: py3-none-any\n",
    }
    files[f"{dist}/RECORD"] = "".join(f"{name},,\n" for name in files) + f"{dist}/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return path


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(venv with fake torch 2.13.0+cpu and an up-to-date set-up stamp, wheel folder)."""
    base = tmp_path_factory.mktemp("torchspec")
    wheels = base / "wheels"
    wheels.mkdir()
    for version in ("2.13.0+cpu", "2.13.0+cu128"):
        fake_torch_wheel(wheels, version)
    env = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(env)], check=True, timeout=120)
    pip = [str(env / "bin" / "python"), "-m", "pip", "install", "-q",
           "--disable-pip-version-check", "--isolated", "--no-index", "--find-links",
           str(wheels)]
    subprocess.run([*pip, "torch==2.13.0+cpu"], check=True, timeout=120)
    (env / ".installed-stamp").touch()  # the rest of the set-up is not under test
    return env, wheels


def torch_version(env: Path) -> str:
    return subprocess.run([str(env / "bin" / "python"), "-c",
                           "import importlib.metadata as m; print(m.version('torch'))"],
                          capture_output=True, text=True, check=True).stdout.strip()


def make_setup(env: Path, wheels: Path, spec: str | None, pip_args: str | None = None,
               index_url: str | None = None) -> subprocess.CompletedProcess[str]:
    args = [f"TORCH_SPEC={spec}"] if spec else []
    if index_url:
        args.append(f"TORCH_INDEX_URL={index_url}")
    return subprocess.run(
        ["make", "-s", "-C", str(ROOT), "setup", f"VENV={env}", *args,
         f"TORCH_PIP_ARGS={pip_args or f'--isolated --no-index --find-links {wheels}'}"],
        capture_output=True, text=True, timeout=300)


def test_spec_already_satisfied_keeps_torch(venv: tuple[Path, Path]) -> None:
    env, wheels = venv
    done = make_setup(env, wheels, "torch==2.13.0")
    assert done.returncode == 0, done.stderr
    assert "torch 2.13.0+cpu satisfies TORCH_SPEC=torch==2.13.0: kept" in done.stdout
    assert torch_version(env) == "2.13.0+cpu"


def test_spec_for_another_build_replaces_torch_then_refuses_what_cannot_be_had(
        venv: tuple[Path, Path]) -> None:
    env, wheels = venv
    done = make_setup(env, wheels, "torch==2.13.0+cu128")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "does not satisfy TORCH_SPEC=torch==2.13.0+cu128: installing it" in done.stdout
    assert torch_version(env) == "2.13.0+cu128"
    again = make_setup(env, wheels, "torch==2.13.0+cu128")  # now satisfied: nothing to do
    assert again.returncode == 0 and "kept" in again.stdout
    missing = make_setup(env, wheels, "torch==2.13.0+cu999")
    assert missing.returncode != 0
    assert "torch is 2.13.0+cu128, not torch==2.13.0+cu999. Fix it with:" in missing.stderr
    assert "-m pip install --disable-pip-version-check torch==2.13.0+cu999" in missing.stderr
    assert torch_version(env) == "2.13.0+cu128"


def test_a_pytorch_index_url_alone_names_the_build(tmp_path: Path,
                                                   venv: tuple[Path, Path]) -> None:
    """`make setup TORCH_INDEX_URL=.../cu126`: the index's build label is required, so the
    installed build is replaced by the index's (a local PEP 503 index here)."""
    env, wheels = venv
    index = tmp_path / "whl" / "cu126"
    (index / "torch").mkdir(parents=True)
    wheel = fake_torch_wheel(index / "torch", "2.13.0+cu126")
    (index / "torch" / "index.html").write_text(f'<a href="{wheel.name}">{wheel.name}</a>\n')
    done = make_setup(env, wheels, None, pip_args="--isolated",
                      index_url=index.as_uri())
    assert done.returncode == 0, done.stdout + done.stderr
    assert "does not satisfy TORCH_SPEC=torch==2.13.0+cu126: installing it" in done.stdout
    assert f"--index-url {index.as_uri()}" in done.stdout
    assert torch_version(env) == "2.13.0+cu126"
