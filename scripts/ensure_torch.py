"""Make the venv's torch follow a requested spec, or refuse with the command that fixes it.

    python scripts/ensure_torch.py 'torch==2.13.0+cu128' [PIP ARGS ...]

`make setup TORCH_SPEC=...` runs this with the venv's Python. With TORCH_INDEX_URL in the
environment (`make setup TORCH_INDEX_URL=https://download.pytorch.org/whl/cu126`) pip uses that
index, and a spec without a local label gets the index's (`torch==2.13.0` becomes
`torch==2.13.0+cu126`), so the CPU build cannot pass for the CUDA one. An installed torch that
satisfies the spec is kept (no download). One that does not (say the CPU build when the spec
names a CUDA build: a local version label like `+cu128` must match exactly) is replaced with
`pip install SPEC PIP_ARGS` (e.g. `--index-url https://download.pytorch.org/whl/cu128`).
If the result still does not satisfy the spec, exit 1 with the exact command to run.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys

try:
    from packaging.requirements import InvalidRequirement, Requirement
except ImportError:  # a bare venv: pip carries its own copy
    from pip._vendor.packaging.requirements import (  # type: ignore[assignment]  # pip's copy
        InvalidRequirement,
        Requirement,
    )

VERSION = ("import importlib.metadata as m\n"
           "try: print(m.version('torch'))\n"
           "except m.PackageNotFoundError: print('')")


def installed() -> str | None:
    """The installed torch version, read in a fresh interpreter (after pip changed it)."""
    out = subprocess.run([sys.executable, "-c", VERSION], capture_output=True, text=True,
                         check=True).stdout.strip()
    return out or None


def satisfies(version: str | None, req: Requirement) -> bool:
    return version is not None and req.specifier.contains(version, prereleases=True)


#: The last path part of a PyTorch wheel index that names a build (cu126, cpu, rocm6.4, xpu).
BUILD_LABEL = re.compile(r"^(cu\d+|cpu|rocm[\d.]+|xpu)$")


def with_index(spec: str, pip_args: list[str], index_url: str) -> tuple[str, list[str]]:
    """(spec, pip args) for a PyTorch index: `--index-url` added, and an exact spec without a
    local label given the build the index serves."""
    label = index_url.rstrip("/").rsplit("/", 1)[-1]
    exact = re.fullmatch(r"\s*torch\s*==\s*([0-9][0-9a-z.]*)\s*", spec)
    if exact and BUILD_LABEL.match(label):
        spec = f"torch=={exact.group(1)}+{label}"
    return spec, [*pip_args, "--index-url", index_url]


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    spec, pip_args = argv[0], argv[1:]
    if os.environ.get("TORCH_INDEX_URL"):
        spec, pip_args = with_index(spec, pip_args, os.environ["TORCH_INDEX_URL"])
    try:
        req = Requirement(spec)
    except InvalidRequirement as exc:
        print(f"ensure_torch: TORCH_SPEC {spec!r} is not a requirement: {exc}", file=sys.stderr)
        return 2
    if req.name.lower() != "torch":
        print(f"ensure_torch: TORCH_SPEC must name torch, got {spec!r}", file=sys.stderr)
        return 2
    have = installed()
    if satisfies(have, req):
        print(f"torch {have} satisfies TORCH_SPEC={spec}: kept")
        return 0
    command = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", spec,
               *pip_args]
    print(f"torch {have or '(not installed)'} does not satisfy TORCH_SPEC={spec}: "
          f"installing it\n  {shlex.join(command)}", flush=True)
    subprocess.run(command)
    now = installed()
    if satisfies(now, req):
        print(f"torch {now} installed (TORCH_SPEC={spec})")
        return 0
    print(f"ensure_torch: error: torch is {now or 'not installed'}, not {spec}. Fix it with:\n"
          f"  {shlex.join(command)}\n"
          "(a CUDA build needs its index: TORCH_INDEX_URL=https://download.pytorch.org/whl/"
          "cu128; see the README, 'GPU machines')",
          file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
