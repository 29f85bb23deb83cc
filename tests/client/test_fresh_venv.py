"""The producer SDK in a fresh virtual environment holding only the `client` extra: it
imports without torch, textual or psutil, and streams a run to a real sanctum."""

from __future__ import annotations

import subprocess
import tomllib
import venv
from pathlib import Path

import pytest

from esper.sanctum.v1 import sanctum_pb2 as spb
from sanctum_svc.testing import ThreadedSanctum

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

SCRIPT = """
import sys
import esper_client
from esper_client.bridge import SanctumOutput
heavy = sorted(m for m in ("torch", "textual", "psutil", "sanctum_svc", "trainer_svc",
                           "tui_client") if m in sys.modules)
assert not heavy, f"importing the SDK imported {heavy}"
with esper_client.init(server=sys.argv[1], run_id="fresh-venv", config={"lr": 0.001},
                       tags=["fresh"]) as run:
    for step in range(5):
        run.epoch_completed(val_accuracy=0.1 * step, env_id=0, epoch=step)
print("streamed", run.stats()["acked"])
"""


def client_requirements() -> list[str]:
    """The `client` extra, as pyproject.toml lists it."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return list(project["optional-dependencies"]["client"])


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv with the package (no dependencies) and the client extra's requirements."""
    where = tmp_path_factory.mktemp("fresh") / "venv"
    venv.EnvBuilder(with_pip=True).create(where)
    python = where / "bin" / "python"
    for args in (client_requirements(), ["--no-deps", str(ROOT)]):
        done = subprocess.run([str(python), "-m", "pip", "install", "-q", *args],
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
    return python


def test_only_the_client_extra_is_installed(fresh: Path) -> None:
    listed = subprocess.run([str(fresh), "-m", "pip", "list", "--format=freeze"],
                            capture_output=True, text=True, check=True).stdout.lower()
    for heavy in ("torch", "textual", "psutil"):
        assert f"{heavy}==" not in listed


def test_the_sdk_imports_and_streams_without_torch_textual_psutil(fresh: Path) -> None:
    with ThreadedSanctum() as server:
        done = subprocess.run([str(fresh), "-c", SCRIPT, server.address], cwd="/",
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-3000:]
        assert "streamed 7" in done.stdout  # start, 5 epochs, completion
        snap = server.snapshot("fresh-venv")
        assert snap.status == spb.RUN_STATUS_COMPLETED
        assert [(h.name, h.value) for h in snap.run_config.hyperparameters] == [("lr", "0.001")]
        assert list(snap.run_config.tags) == ["fresh"]
        assert snap.envs[0].accuracy == pytest.approx(0.4)
