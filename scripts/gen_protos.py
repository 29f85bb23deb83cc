"""Generate Python protobuf/gRPC code and .pyi stubs from proto/ into gen/python.

Run through `make proto`. With --check, generate into a temporary folder and exit 1
if gen/python differs (CI uses it to fail on stale generated code).
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import sys
import tempfile
from pathlib import Path

import grpc_tools
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
OUT_DIR = ROOT / "gen" / "python"
#: Top-level packages generated: ours, and the vendored protovalidate rules (buf.validate).
TOP_PACKAGES = ("esper", "buf")
HEADER = '"""Generated from proto/ by scripts/gen_protos.py (`make proto`). Do not edit."""\n'


def generate(out: Path) -> None:
    """Run protoc (bundled with grpcio-tools) over every .proto file into `out`."""
    protos = sorted(str(p.relative_to(PROTO_DIR)) for p in PROTO_DIR.rglob("*.proto"))
    wkt = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_DIR}",
        f"-I{wkt}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *protos,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    # The top-level packages stay namespace packages (no __init__.py): the original system
    # installs a regular package named `esper`, and a second esper/__init__.py would
    # overwrite its own or hide it (esper_client/contract.py joins the two).
    for pkg in {out / Path(p).parent for p in protos}:
        d = pkg
        while d.parent != out:
            (d / "__init__.py").write_text(HEADER)
            top, d = d, d.parent
        (top / "py.typed").write_text("")  # PEP 561: in the namespace's packages


def differences(a: Path, b: Path) -> list[str]:
    """Relative paths that differ between two trees."""
    out: list[str] = []
    cmp = filecmp.dircmp(a, b, ignore=["__pycache__"])
    stack = [(cmp, Path("."))]
    while stack:
        c, rel = stack.pop()
        out += [str(rel / n) for n in c.left_only + c.right_only + c.diff_files]
        _, mismatch, errors = filecmp.cmpfiles(c.left, c.right, c.common_files, shallow=False)
        out += [str(rel / n) for n in mismatch + errors if str(rel / n) not in out]
        stack += [(sub, rel / name) for name, sub in c.subdirs.items()]
    return sorted(set(out))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if gen/python is stale")
    ns = parser.parse_args()
    if ns.check:
        with tempfile.TemporaryDirectory() as tmp:
            generate(Path(tmp))
            diff = [f"{top}/{d}" for top in TOP_PACKAGES
                    for d in differences(Path(tmp) / top, OUT_DIR / top)]
        if diff:
            print("generated code is stale; run `make proto`:", *diff, sep="\n  ", file=sys.stderr)
            return 1
        print("generated code is fresh")
        return 0
    for top in TOP_PACKAGES:
        shutil.rmtree(OUT_DIR / top, ignore_errors=True)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    generate(OUT_DIR)
    print(f"generated {OUT_DIR.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
