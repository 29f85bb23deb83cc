"""The host's task: a synthetic nonlinear classification problem generated in code.

Labels come from a fixed random "teacher" network (tanh MLP), so the problem is
nonlinear, deterministic per seed, needs no download, and is hard enough for a narrow
host that extra capacity from seeds can help.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

TASK_NAME = "teacher-mlp-8x4"
N_FEATURES = 8
N_CLASSES = 4


@dataclass(frozen=True)
class TaskData:
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor


def make_task(seed: int, n_train: int = 1024, n_val: int = 512) -> TaskData:
    """Sample inputs from N(0, I) and label them with a random 2-layer tanh teacher."""
    g = torch.Generator().manual_seed(10_007 + seed)
    w1 = torch.randn(N_FEATURES, 32, generator=g) * 1.5
    w2 = torch.randn(32, N_CLASSES, generator=g)
    x = torch.randn(n_train + n_val, N_FEATURES, generator=g)
    y = (torch.tanh(x @ w1) @ w2).argmax(dim=1)
    return TaskData(x[:n_train], y[:n_train], x[n_train:], y[n_train:])
