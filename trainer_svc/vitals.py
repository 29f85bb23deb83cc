"""SYSTEM_VITALS sampling on the trainer host (psutil); GPU fields only where CUDA runs."""

from __future__ import annotations

import contextlib
import time

import psutil
import torch

from esper.telemetry.v1 import telemetry_pb2 as tpb

GB = 1e9
#: GPU memory utilisation above which a MEMORY_WARNING is due.
MEMORY_WARNING_UTILIZATION = 0.9


class VitalsSampler:
    """Samples host vitals at most every `every_s` seconds (`due()` says when)."""

    def __init__(self, every_s: float, device: torch.device) -> None:
        self.every_s = every_s
        self.device = device
        self._proc = psutil.Process()
        self._last = -float("inf")
        psutil.cpu_percent(interval=None)  # prime: the first call always returns 0.0

    def due(self, now: float | None = None) -> bool:
        return (time.monotonic() if now is None else now) - self._last >= self.every_s

    def sample(self) -> tpb.SystemVitalsPayload:
        self._last = time.monotonic()
        vm = psutil.virtual_memory()
        p = tpb.SystemVitalsPayload(
            cpu_percent=psutil.cpu_percent(interval=None),
            ram_used_gb=(vm.total - vm.available) / GB,
            ram_total_gb=vm.total / GB,
            process_rss_gb=self._proc.memory_info().rss / GB,
        )
        if self.device.type == "cuda" and torch.cuda.is_available():
            free, total = torch.cuda.mem_get_info(self.device)
            p.gpu_memory_used_gb = (total - free) / GB
            p.gpu_memory_total_gb = total / GB
            # torch.cuda.utilization needs pynvml; without it the field stays absent.
            with contextlib.suppress(ModuleNotFoundError, RuntimeError):
                p.gpu_utilization = float(torch.cuda.utilization(self.device))
        return p


def memory_warning(p: tpb.SystemVitalsPayload) -> tpb.MemoryWarningPayload | None:
    """A warning payload when GPU memory is nearly full; None otherwise or without a GPU."""
    if not (p.HasField("gpu_memory_used_gb") and p.HasField("gpu_memory_total_gb")):
        return None
    util = p.gpu_memory_used_gb / p.gpu_memory_total_gb if p.gpu_memory_total_gb else 0.0
    if util < MEMORY_WARNING_UTILIZATION:
        return None
    return tpb.MemoryWarningPayload(device="cuda", used_gb=p.gpu_memory_used_gb,
                                    total_gb=p.gpu_memory_total_gb, utilization=util)
