"""The producer SDK in a fresh virtual environment holding only the `client` extra: it
imports without torch, textual or psutil, and streams a run to a real sanctum."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
import venv
from pathlib import Path

import pytest

from esper.sanctum.v2 import sanctum_pb2 as spb
from testkit import ThreadedSanctum

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


#: Packages the SDK must not need.
HEAVY = ("torch", "textual", "psutil")


def client_requirements() -> list[str]:
    """What `pip install 'esper-sanctum[client]'` brings: the `client` extra, plus the
    base dependencies when they are role-free (while the base still lists the trainer's
    and dashboard's packages, the client extra names everything the SDK needs)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = list(project.get("dependencies", []))
    extra = [r for r in project["optional-dependencies"]["client"]
             if not r.startswith("esper-sanctum")]
    heavy = any(r.lower().startswith(HEAVY) for r in base)
    return extra if heavy else base + extra


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv with the package (no dependencies) and the client extra's requirements."""
    where = tmp_path_factory.mktemp("fresh")
    venv.EnvBuilder(with_pip=True).create(where / "venv")
    python = where / "venv" / "bin" / "python"
    # built from a copy: a build in the checkout would leave build/ behind, which later
    # builds reuse
    source = where / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".venv", ".git", "build", "node_modules", "*.egg-info", "__pycache__", ".*_cache",
        ".hypothesis"))
    for args in (client_requirements(), ["--no-deps", str(source)]):
        done = subprocess.run([str(python), "-m", "pip", "install", "-q", *args],
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
    return python


def test_only_the_client_extra_is_installed(fresh: Path) -> None:
    listed = subprocess.run([str(fresh), "-m", "pip", "list", "--format=freeze"],
                            capture_output=True, text=True, check=True).stdout.lower()
    for heavy in HEAVY:
        assert f"{heavy}==" not in listed


def test_the_sdk_imports_and_streams_without_torch_textual_psutil(fresh: Path) -> None:
    with ThreadedSanctum() as server:
        done = subprocess.run([str(fresh), "-c", SCRIPT, server.address], cwd="/",
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-3000:]
        assert "streamed 7" in done.stdout  # start, 5 epochs, completion
        snap = server.snapshot("fresh-venv")
        assert snap.run.status == spb.RUN_STATUS_COMPLETED
        assert [(h.name, h.value) for h in snap.run.config.hyperparameters] == [("lr", "0.001")]
        assert list(snap.run.config.tags) == ["fresh"]
        assert snap.envs.envs[0].last_epoch.val_accuracy == pytest.approx(0.4)


BESIDE = """
import sys
{first}
from esper.nissa import get_hub                      # the original's hub
import esper
from esper_client.bridge import SanctumOutput
hub = get_hub()
hub.add_backend(SanctumOutput(sys.argv[1], run_id="beside"))
hub.emit({{"event_type": "TRAINING_STARTED", "event_id": "e1",
          "data": {{"n_envs": 1, "slot_ids": ["r0c0"], "task": "t"}}}})
hub.close()
assert esper.ORIGINAL == "yes"                       # the original's own __init__ ran
print("both import")
"""

HUB = """
_backends = []
class Hub:
    def add_backend(self, backend):
        backend.start()
        _backends.append(backend)
    def emit(self, event):
        for b in _backends:
            b.emit(event)
    def close(self):
        for b in _backends:
            b.close()
def get_hub():
    return Hub()
"""


@pytest.mark.parametrize("first", ["import esper_client", "import esper.nissa"])
def test_the_sdk_beside_the_original_system(fresh: Path, tmp_path: Path, first: str) -> None:
    """The original installs a regular package named `esper` too: in its process both it
    and the contract's modules import, whichever comes first."""
    original = tmp_path / "esper"
    (original / "nissa").mkdir(parents=True)
    (original / "__init__.py").write_text('ORIGINAL = "yes"\n')
    (original / "nissa" / "__init__.py").write_text(HUB)
    with ThreadedSanctum() as server:
        done = subprocess.run(
            [str(fresh), "-c", BESIDE.format(first=first), server.address],
            env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
            capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert "both import" in done.stdout
        assert server.snapshot("beside").run.config.task == "t"
