"""Importing the contract's generated modules (`esper.telemetry.v1`, `esper.sanctum.v2`)
beside the original system, which installs a regular package of the same name, `esper`.

Ours is a namespace package (no esper/__init__.py), so it never hides or overwrites the
original's. But a regular package wins over namespace portions wherever it is on the path:
with the original installed, `esper` is the original's and our modules are not found in
it. `join_original_esper` then adds our directory to its __path__, so both import.
"""

from __future__ import annotations

import importlib
from pathlib import Path


def join_original_esper() -> None:
    try:
        importlib.import_module("esper.telemetry.v1.telemetry_pb2")
        return
    except ModuleNotFoundError:
        pass
    import esper

    here = Path(__file__).resolve().parent.parent  # site-packages, or the repository
    for base in (here / "esper", here / "gen" / "python" / "esper"):
        if (base / "telemetry").is_dir() and str(base) not in esper.__path__:
            esper.__path__.append(str(base))
