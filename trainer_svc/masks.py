"""Invalid-action masks of the 8 heads: what the env state allows, per step.

The env describes its state once per step (`MaskInputs`); `head_mask` turns that into one
head's mask given the choices made before it, so masks follow the sampling order: the slot
depends on the op, the alpha target on the op and slot (SET_ALPHA_TARGET must change the
target), the alpha speed on the op and slot (only a seed that is in the output can fade out:
pruning one that is not is INSTANT), the alpha curve on the speed (an INSTANT move has no
shape). A head that does not matter for the chosen op gets an all-valid mask.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from trainer_svc.actions import HEAD_INDEX, HEADS, MAX_ACTIONS, OPS, RELEVANT
from trainer_svc.actions import OP as LOP

_SET = OPS.index(LOP.LIFECYCLE_OP_SET_ALPHA_TARGET)
_PRUNE = OPS.index(LOP.LIFECYCLE_OP_PRUNE)
#: [n_ops, n_heads] bool: which heads matter for each op (actions.RELEVANT).
RELEVANCE = torch.tensor([[h.name in RELEVANT[op] for h in HEADS] for op in OPS])
_RELEVANCE_ON: dict[torch.device, torch.Tensor] = {}


def relevance_on(device: torch.device) -> torch.Tensor:
    """RELEVANCE on `device` (copied there once)."""
    table = _RELEVANCE_ON.get(device)
    if table is None:
        table = _RELEVANCE_ON[device] = RELEVANCE.to(device)
    return table


@dataclass
class MaskInputs:
    """What the env state allows this step, batched over envs ([B, ...] bool tensors)."""

    op: torch.Tensor  # [B, n_ops]: ops valid in some slot
    slot: torch.Tensor  # [B, n_ops, n_slots]: slots each op may target
    blueprint: torch.Tensor  # [B, n_blueprints]: blueprints that fit the budget
    target: torch.Tensor  # [B, n_slots, n_targets]: alpha targets SET_ALPHA_TARGET may pick
    blended: torch.Tensor  # [B, n_slots]: the slot's seed is in the output (alpha > 0)

    @classmethod
    def stack(cls, items: list[MaskInputs]) -> MaskInputs:
        return cls(**{f.name: torch.cat([getattr(m, f.name) for m in items])
                      for f in fields(cls)})

    def to(self, device: torch.device) -> MaskInputs:
        return MaskInputs(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})


def _only_first(rows: torch.Tensor, n: int) -> torch.Tensor:
    """[B, n] mask: True everywhere, except rows where `rows` is set allow index 0 only."""
    mask = torch.ones(rows.shape[0], n, dtype=torch.bool, device=rows.device)
    mask[rows, 1:] = False
    return mask


def head_mask(name: str, m: MaskInputs, chosen: dict[str, torch.Tensor]) -> torch.Tensor:
    """[B, n_actions] bool mask of head `name`, given the actions in `chosen` (the heads
    sampled before it). Rows whose op does not use the head are all valid."""
    if name == "op":
        return m.op
    op = chosen["op"]
    rows = torch.arange(op.shape[0], device=op.device)
    if name == "slot":
        return m.slot[rows, op]
    slot = chosen["slot"]
    n = HEADS[HEAD_INDEX[name]].n_actions
    if name == "blueprint":
        mask = m.blueprint
    elif name == "alpha_target":
        mask = torch.where((op == _SET)[:, None], m.target[rows, slot], True)
    elif name == "alpha_speed":
        mask = _only_first((op == _PRUNE) & ~m.blended[rows, slot], n)
    elif name == "alpha_curve":
        mask = _only_first(chosen["alpha_speed"] == 0, n)
    else:
        mask = torch.ones(op.shape[0], n, dtype=torch.bool, device=op.device)
    relevant = relevance_on(op.device)[op, HEAD_INDEX[name]]
    return mask | ~relevant[:, None]


def padded(mask: torch.Tensor) -> torch.Tensor:
    """[B, n] -> [B, MAX_ACTIONS], padding with False (no such action)."""
    out = torch.zeros(mask.shape[0], MAX_ACTIONS, dtype=torch.bool, device=mask.device)
    out[:, :mask.shape[1]] = mask
    return out
