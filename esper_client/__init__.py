"""Esper producer SDK: stream a training run's telemetry to sanctum. Torch-free: it needs
grpcio and protobuf only (`pip install 'esper-sanctum[client]'`).

    import esper_client
    with esper_client.init(server="gpu-box:50051", config={"lr": 3e-4}) as run:
        for step in range(1000):
            ...
            run.log({"loss": loss}, step=step)

`init` returns a `Run`: typed emitters for every event of the contract
(`run.epoch_completed(val_accuracy=..., env_id=...)`), a context manager that reports how
the run ended, and an exit-time flush. Nothing it does blocks the caller: events wait in a
bounded buffer, then a spool file, while sanctum is away, and are resent from its cursor.
The lower-level `TelemetryClient` sends prebuilt events; `esper_client.bridge` streams the
original system's telemetry hub.
"""

from __future__ import annotations

from esper_client.contract import join_original_esper

join_original_esper()  # before anything imports the contract's modules

from esper_client.client import NullTelemetry, TelemetryClient  # noqa: E402
from esper_client.config import TelemetryConfig  # noqa: E402
from esper_client.run import Run, init  # noqa: E402
from esper_client.signals import install_signal_flush  # noqa: E402

__all__ = ["NullTelemetry", "Run", "TelemetryClient", "TelemetryConfig", "init",
           "install_signal_flush"]
