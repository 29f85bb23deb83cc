"""Fresh virtual environments with one extra of esper-sanctum each, built once per session.

The project is built into a wheel once; each venv is made without pip and filled by this
venv's pip (`pip --python`) exactly as a user would: `pip install -c constraints.txt
'esper_sanctum-*.whl[EXTRA]'`, dependencies resolved by pip (from its cache and index),
bytecode not compiled (the largest cost for torch). The venvs are built in parallel.

Tests take the `fresh_venvs` fixture (tests/contracts/conftest.py): {extra: Venv}, with ""
for the bare package. Another extra's test adds its name to EXTRAS.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONSTRAINTS = ROOT / "constraints.txt"
EXTRAS = ("", "client", "server", "tui", "web", "trainer", "gpu")
#: Installed where the extra pulls torch: the build this venv runs (the local CPU wheel in
#: CI), so a fresh venv never resolves a multi-GB CUDA torch.
TORCH = f"torch=={importlib.metadata.version('torch').split('+')[0]}"
WORKERS = 3


@dataclass
class Venv:
    """One fresh environment: its folder, install time and what it holds."""

    extra: str
    path: Path
    seconds: float = 0.0

    @property
    def bin(self) -> Path:
        return self.path / "bin"

    def run(self, *cmd: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """A command of this venv (by name from its bin/, or its python), with a clean
        environment: nothing of the test venv leaks in."""
        exe = str(self.bin / cmd[0])
        env = {"PATH": f"{self.bin}:/usr/bin:/bin", "HOME": str(self.path),
               "XDG_CONFIG_HOME": str(self.path / "xdg")}
        return subprocess.run([exe, *cmd[1:]], capture_output=True, text=True,
                              timeout=timeout, env=env, cwd=self.path)

    def dists(self) -> set[str]:
        """Canonical names of every distribution installed here."""
        code = ("import importlib.metadata as m, json, re; print(json.dumps(sorted({re.sub("
                "r'[-_.]+', '-', d.metadata['Name']).lower() for d in m.distributions()})))")
        done = self.run("python", "-c", code)
        assert done.returncode == 0, done.stderr
        return set(json.loads(done.stdout))

    def size_mb(self) -> float:
        total = sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file()
                    and not f.is_symlink())
        return total / 1e6


def build_wheel(out: Path) -> Path:
    """The project as a wheel (no build isolation: setuptools is in this venv). One build
    at a time: setuptools builds inside the source tree (build/, *.egg-info), so two test
    workers building at once break each other's build."""
    tag = hashlib.sha1(str(ROOT).encode()).hexdigest()[:12]
    with (Path(tempfile.gettempdir()) / f"esper-wheel-build-{tag}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                        "--no-build-isolation", "-w", str(out), str(ROOT)],
                       check=True, capture_output=True, timeout=300)
    (wheel,) = out.glob("esper_sanctum-*.whl")
    return wheel


def make_venv(base: Path, wheel: Path, extra: str) -> Venv:
    path = base / (extra or "core")
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True,
                   timeout=120)
    spec = f"{wheel}[{extra}]" if extra else str(wheel)
    torch = [TORCH] if extra in ("trainer", "gpu") else []
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(path / "bin" / "python"), "install",
         "-q", "--disable-pip-version-check", "--no-compile", "-c", str(CONSTRAINTS), spec,
         *torch], capture_output=True, text=True, timeout=600,
        env={**os.environ, "PIP_NO_WARN_SCRIPT_LOCATION": "1"})
    if done.returncode != 0:
        raise RuntimeError(f"pip install {spec} failed:\n{done.stderr[-3000:]}")
    return Venv(extra, path, time.monotonic() - started)


def make_all(base: Path, extras: tuple[str, ...] = EXTRAS) -> dict[str, Venv]:
    wheel = build_wheel(base / "wheel")
    with ThreadPoolExecutor(WORKERS) as pool:
        venvs = list(pool.map(lambda e: make_venv(base, wheel, e), extras))
    return {v.extra: v for v in venvs}
