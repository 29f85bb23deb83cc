"""Tamiyo: a multi-head actor-critic with invalid-action masking.

A shared trunk feeds one linear head per action head (op, slot, blueprint, tempo,
alpha_target) and a value head. The op is sampled first; the slot mask then depends on
the chosen op (e.g. FOSSILIZE only into HOLDING slots). Only the heads relevant to the
chosen op (actions.RELEVANT) contribute to the joint log-probability.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.distributions import Categorical

from trainer_svc.actions import HEADS, OPS, RELEVANT

_NEG = -1e8


def masked_logits(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Invalid actions get a huge negative logit. A row with no valid action (a head that
    does not matter for the chosen op) is left unmasked rather than producing NaN."""
    mask = mask | ~mask.any(dim=-1, keepdim=True)
    return logits.masked_fill(~mask, _NEG)


def relevance_table() -> torch.Tensor:
    """[n_ops, n_heads] float: 1 where a head matters for an op."""
    return torch.tensor([[float(h.name in RELEVANT[op]) for h in HEADS] for op in OPS])


@dataclass
class PolicyOutput:
    """Per-sample results of evaluating the policy on (obs, masks, actions)."""

    actions: torch.Tensor  # [B, n_heads] long
    log_prob: torch.Tensor  # [B] joint log-prob over relevant heads
    entropy: torch.Tensor  # [B, n_heads] per-head entropy of the masked distributions
    value: torch.Tensor  # [B]
    probs: list[torch.Tensor]  # per head [B, n_actions]


class TamiyoPolicy(nn.Module):
    """Shared MLP trunk, one categorical head per action head, one value head."""

    #: [n_ops, n_heads] buffer: which heads' log-probs count for each op.
    relevance: torch.Tensor

    def __init__(self, obs_dim: int, hidden: int = 64) -> None:
        super().__init__()
        self.trunk = nn.Sequential(
            nn.Linear(obs_dim, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh()
        )
        self.heads = nn.ModuleDict({h.name: nn.Linear(hidden, h.n_actions) for h in HEADS})
        self.value_head = nn.Linear(hidden, 1)
        self.register_buffer("relevance", relevance_table())
        with torch.no_grad():  # small initial logits: near-uniform start (CleanRL habit)
            for head in self.heads.values():
                assert isinstance(head, nn.Linear)
                head.weight.mul_(0.01)
                head.bias.zero_()
        self._logits_fn = self.forward

    def enable_compile(self, backend: str, mode: str) -> None:
        """Run the network part (trunk + heads) through torch.compile; sampling stays eager."""
        self._logits_fn = torch.compile(self.forward, backend=backend, mode=mode)

    def forward(self, obs: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Raw logits per head and the value estimate."""
        z = self.trunk(obs)
        return {name: head(z) for name, head in self.heads.items()}, self.value_head(z).squeeze(-1)

    def evaluate(self, obs: torch.Tensor, op_mask: torch.Tensor, slot_masks: torch.Tensor,
                 bp_mask: torch.Tensor, actions: torch.Tensor | None = None,
                 generator: torch.Generator | None = None) -> PolicyOutput:
        """Sample actions (actions=None) or score given ones, under the masks.

        slot_masks is [B, n_ops, n_slots]; the slot head uses the row of the chosen op.
        """
        logits, value = self._logits_fn(obs)
        batch = obs.shape[0]
        rows = torch.arange(batch, device=obs.device)
        chosen: list[torch.Tensor] = []
        log_probs: list[torch.Tensor] = []
        entropies: list[torch.Tensor] = []
        probs: list[torch.Tensor] = []
        op_idx: torch.Tensor | None = None
        for i, h in enumerate(HEADS):
            if h.name == "op":
                mask = op_mask
            elif h.name == "slot":
                mask = slot_masks[rows, op_idx]
            elif h.name == "blueprint":
                mask = bp_mask
            else:
                mask = torch.ones_like(logits[h.name], dtype=torch.bool)
            dist = Categorical(logits=masked_logits(logits[h.name], mask))
            if actions is None:
                a = torch.multinomial(dist.probs, 1, generator=generator).squeeze(-1)
            else:
                a = actions[:, i]
            if h.name == "op":
                op_idx = a
            chosen.append(a)
            log_probs.append(dist.log_prob(a))
            entropies.append(dist.entropy())
            probs.append(dist.probs)
        relevance = self.relevance[op_idx]  # [B, n_heads]
        log_prob = (torch.stack(log_probs, dim=1) * relevance).sum(dim=1)
        return PolicyOutput(torch.stack(chosen, dim=1), log_prob, torch.stack(entropies, dim=1),
                            value, probs)


def head_parameters(policy: TamiyoPolicy) -> dict[str, list[nn.Parameter]]:
    """Each action head's own parameters (for per-head gradient norms)."""
    return {name: list(head.parameters()) for name, head in policy.heads.items()}
