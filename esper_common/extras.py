"""Which optional extra each command needs, and the console entry points that check it.

`pip install esper-sanctum` alone has the contracts and grpcio; each role adds its extra
(`[server]`, `[tui]`, `[web]`, `[trainer]`, `[gpu]`, or `[all]`). A command whose extra is
missing says which one and the pip command, instead of an ImportError traceback.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Iterable

DIST = "esper-sanctum"
#: Modules that prove an extra is installed.
MODULES: dict[str, tuple[str, ...]] = {
    "client": ("grpc", "google.protobuf", "google.rpc.status_pb2"),
    "server": ("grpc_health", "grpc_reflection", "grpc_status", "prometheus_client",
               "cryptography"),
    "tui": ("textual",),
    "web": ("textual_serve",),
    "trainer": ("torch", "psutil", "grpc_status"),
    "gpu": ("pynvml",),
    "cluster": ("nats", "grpc_health", "prometheus_client"),
}


def _present(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package is missing
        return False


def missing(extras: Iterable[str]) -> list[str]:
    """The extras (of `extras`) some module of which cannot be imported."""
    return [e for e in extras if not all(map(_present, MODULES[e]))]


def require(command: str, extras: Iterable[str]) -> None:
    """Exit 2 with the pip command to run when an extra `command` needs is missing."""
    lacking = missing(extras)
    if lacking:
        names = ",".join(lacking)
        print(f"{command}: needs the {names} extra{'s' if len(lacking) > 1 else ''} of "
              f"{DIST}, which {'are' if len(lacking) > 1 else 'is'} not installed here.\n"
              f"  install: pip install '{DIST}[{names}]'   (from a checkout: pip install "
              f"'.[{names}]', or `make setup`)", file=sys.stderr)
        raise SystemExit(2)


def _run(module: str, command: str, extras: tuple[str, ...]) -> int:
    require(command, extras)
    return int(importlib.import_module(module).main() or 0)


def esper_sanctum() -> int:
    """`esper-sanctum`."""
    return _run("sanctum_svc.cli", "esper-sanctum", ("server",))


def esper_trainer() -> int:
    """`esper-trainer`."""
    return _run("trainer_svc.cli", "esper-trainer", ("trainer",))


def esper_tui() -> int:
    """`esper-tui` (`--serve` checks for the web extra itself)."""
    return _run("tui_client.cli", "esper-tui", ("tui",))
