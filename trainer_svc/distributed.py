"""torch.distributed glue: run under `torchrun --nproc_per_node K` (gloo on CPU, nccl on CUDA).

Ranks train one policy: parameters are broadcast from rank 0 at start and gradients are
averaged with all-reduce after every backward. They share the run id (rank 0's, sent to
the others); each rank has its own producer id and its own block of env ids
[rank * n_envs, (rank + 1) * n_envs).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from esper_client.ids import default_producer_id

RUN_ID_MAX_BYTES = 255


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    #: Where collective tensors live: cpu for gloo, the rank's GPU for nccl.
    device: str = "cpu"

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    def producer_id(self) -> str:
        """A producer id unique per rank AND per process start: '<host>-rank<r>-<hex>' (or
        '<host>-<pid>-<hex>' alone). A job restarted with the same run id gets new ids, so
        its seqs (from 1 again) are not taken for duplicates of the first start's."""
        return default_producer_id(f"rank{self.rank}" if self.enabled else None)


def init_from_env(device: torch.device) -> DistInfo:
    """Join the process group torchrun describes in the environment; single process else."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistInfo()
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
    return DistInfo(rank=dist.get_rank(), world_size=dist.get_world_size(),
                    device=str(device) if device.type == "cuda" else "cpu")


def shutdown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def share_run_id(info: DistInfo, run_id: str) -> str:
    """Every rank gets rank 0's run id (as a fixed-size byte tensor: no pickling, no NumPy)."""
    if not info.enabled:
        return run_id
    data = run_id.encode()[:RUN_ID_MAX_BYTES]
    buf = torch.zeros(RUN_ID_MAX_BYTES + 1, dtype=torch.uint8, device=info.device)
    buf[0] = len(data)
    buf[1:1 + len(data)] = torch.tensor(list(data), dtype=torch.uint8)
    dist.broadcast(buf, src=0)
    return bytes(buf[1:1 + int(buf[0])].tolist()).decode()


def broadcast_parameters(info: DistInfo, model: nn.Module) -> None:
    if info.enabled:
        for p in model.parameters():
            dist.broadcast(p.data, src=0)


def allreduce_gradients(info: DistInfo, model: nn.Module) -> None:
    """Average gradients across ranks (missing gradients count as zeros)."""
    if not info.enabled:
        return
    for p in model.parameters():
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
        p.grad.div_(info.world_size)


def allreduce_mean(info: DistInfo, value: float) -> float:
    if not info.enabled:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=info.device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return float(t.item()) / info.world_size


def all_gather_floats(info: DistInfo, values: list[float]) -> list[float]:
    """Concatenate every rank's list in rank order (equal lengths)."""
    if not info.enabled:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=info.device)
    parts = [torch.empty_like(t) for _ in range(info.world_size)]
    dist.all_gather(parts, t)
    return [float(x) for part in parts for x in part.tolist()]
