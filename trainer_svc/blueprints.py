"""Blueprints: the seed modules the controller can germinate into a slot.

A seed maps the host's hidden activation h (width `dim`) to a residual update; the host
computes h + alpha * seed(h). Blueprints differ clearly in parameter count so the
parameter-budget cost in the reward matters.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from trainer_svc.actions import BLUEPRINT_IDS


class NormSeed(nn.Module):
    """Per-feature affine of a normalised h: 2*dim parameters."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.norm(h)


class LoraSeed(nn.Module):
    """Low-rank linear update B(A h), rank 2: 4*dim parameters."""

    def __init__(self, dim: int, rank: int = 2) -> None:
        super().__init__()
        self.down = nn.Linear(dim, rank, bias=False)
        self.up = nn.Linear(rank, dim, bias=False)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.up(self.down(h))


class MlpSeed(nn.Module):
    """Two-layer MLP dim -> hidden -> dim with ReLU."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, dim))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(h)


#: Blueprint id -> factory(dim). Order defines the blueprint head's action indices.
BLUEPRINTS: dict[str, Callable[[int], nn.Module]] = {
    "norm": NormSeed,
    "lora": LoraSeed,
    "mlp_small": lambda dim: MlpSeed(dim, 8),
    "mlp": lambda dim: MlpSeed(dim, 64),
}
if list(BLUEPRINTS) != BLUEPRINT_IDS:  # the action space names exactly these, in this order
    raise ImportError(f"blueprints {list(BLUEPRINTS)} differ from actions.BLUEPRINT_IDS")


def build_seed(blueprint_id: str, dim: int) -> nn.Module:
    """A fresh seed module; ValueError for an unknown blueprint."""
    try:
        return BLUEPRINTS[blueprint_id](dim)
    except KeyError:
        raise ValueError(f"unknown blueprint {blueprint_id!r}; known: {BLUEPRINT_IDS}") from None


def param_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
