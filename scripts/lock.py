"""Write constraints.txt: the exact version of every package `.[dev,gpu]` resolves to.

    python scripts/lock.py [TORCH_SPEC]      (`make lock`; default torch==2.13.0)

pip resolves the project's ranges (`pip install --dry-run --ignore-installed --report`:
nothing is installed), so the pins are what a fresh set-up would get today. `make setup`,
CI and the images install with `-c constraints.txt`. torch and its CUDA libraries are left
out: which torch build a machine needs is its own choice (TORCH_SPEC, TORCH_INDEX_URL).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "constraints.txt"
#: Chosen per machine, not locked: the torch build and what only a CUDA build pulls.
UNLOCKED = re.compile(r"^(torch|triton|nvidia-(?!ml-py$).*|cuda-.*)$")
HEADER = """\
# Exact versions installed by `make setup`, CI and the images (pip install -c constraints.txt).
# pyproject.toml declares compatible ranges; this file pins one tested set of them.
# Regenerate with `make lock` after changing a requirement. torch is not pinned here: its
# build is chosen per machine (Makefile TORCH_SPEC / TORCH_INDEX_URL, Dockerfile build args).
"""


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def resolve(torch_spec: str) -> dict[str, str]:
    """{name: version} pip would install for `.[dev,gpu]` beside `torch_spec` here."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--dry-run",
                        "--ignore-installed", "--report", str(report), f"{ROOT}[dev,gpu]",
                        torch_spec],
                       check=True)
        data = json.loads(report.read_text())
    pins = {}
    for item in data["install"]:
        meta = item["metadata"]
        name = canonical(meta["name"])
        if name != "esper-sanctum" and not UNLOCKED.match(name):
            pins[name] = meta["version"]
    return pins


def main(argv: list[str]) -> int:
    pins = resolve(argv[0] if argv else "torch==2.13.0")
    OUT.write_text(HEADER + "".join(f"{n}=={v}\n" for n, v in sorted(pins.items())))
    print(f"wrote {OUT.relative_to(ROOT)}: {len(pins)} pins")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
