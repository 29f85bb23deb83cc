"""Tamiyo: a multi-head actor-critic with invalid-action masking.

A shared trunk feeds one linear head per action head (op, slot, blueprint, style, tempo,
alpha_target, alpha_speed, alpha_curve) and a value head. Heads are sampled in that order,
each under a mask that depends on the choices before it (trainer_svc.masks); the masks are
stored with the rollout, so PPO scores the same distributions. Only the heads relevant to
the chosen op (actions.RELEVANT) contribute to the joint log-probability.

Logits are kept padded as [B, n_heads, MAX_ACTIONS] (padding is an invalid action), so the
log-softmax, entropies and log-probabilities of all heads are one tensor operation each.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from trainer_svc.actions import HEADS, MAX_ACTIONS
from trainer_svc.masks import MaskInputs, head_mask, padded, relevance_on

_NEG = -1e8


def masked_logits(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Invalid actions get a huge negative logit. A row with no valid action is left
    unmasked rather than producing NaN."""
    mask = mask | ~mask.any(dim=-1, keepdim=True)
    return logits.masked_fill(~mask, _NEG)


@dataclass
class PolicyOutput:
    """Per-sample results of evaluating the policy on (obs, masks, actions)."""

    actions: torch.Tensor  # [B, n_heads] long
    log_prob: torch.Tensor  # [B] joint log-prob over relevant heads
    entropy: torch.Tensor  # [B, n_heads] per-head entropy of the masked distributions
    value: torch.Tensor  # [B]
    probs: torch.Tensor  # [B, n_heads, MAX_ACTIONS]
    masks: torch.Tensor  # [B, n_heads, MAX_ACTIONS] bool, as used
    relevance: torch.Tensor  # [B, n_heads] float: 1 where the head counted


def sample_heads(logits: torch.Tensor, inputs: MaskInputs, generator: torch.Generator | None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample every head in order under its conditional mask: (actions [B, H], masks
    [B, H, MAX_ACTIONS]). Zero logits give the uniform-random masked policy."""
    chosen: dict[str, torch.Tensor] = {}
    masks = []
    for i, h in enumerate(HEADS):
        mask = head_mask(h.name, inputs, chosen)
        mask = mask | ~mask.any(dim=-1, keepdim=True)
        probs = torch.softmax(logits[:, i, :h.n_actions].masked_fill(~mask, _NEG), dim=-1)
        chosen[h.name] = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
        masks.append(padded(mask))
    return torch.stack(list(chosen.values()), dim=1), torch.stack(masks, dim=1)


def score_heads(logits: torch.Tensor, masks: torch.Tensor, actions: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(joint log-prob [B], entropy [B, H], probs [B, H, A], relevance [B, H]) of `actions`
    under the masked distributions."""
    logp = torch.log_softmax(logits.masked_fill(~masks, _NEG), dim=-1)
    probs = logp.exp()
    entropy = -(probs * logp).sum(dim=-1)
    chosen = logp.gather(2, actions.unsqueeze(-1)).squeeze(-1)
    relevance = relevance_on(actions.device)[actions[:, 0]].to(logp.dtype)
    return (chosen * relevance).sum(dim=1), entropy, probs, relevance


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
        with torch.no_grad():  # small initial logits: near-uniform start (CleanRL habit)
            for head in self.heads.values():
                assert isinstance(head, nn.Linear)
                head.weight.mul_(0.01)
                head.bias.zero_()
        self._logits_fn = self.forward

    def enable_compile(self, backend: str, mode: str) -> None:
        """Run the network part (trunk + heads) through torch.compile; sampling stays eager."""
        self._logits_fn = torch.compile(self.forward, backend=backend, mode=mode)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Padded logits [B, n_heads, MAX_ACTIONS] and the value estimate [B]."""
        z = self.trunk(obs)
        logits = torch.stack([F.pad(head(z), (0, MAX_ACTIONS - h.n_actions), value=_NEG)
                              for h, head in zip(HEADS, self.heads.values(), strict=True)],
                             dim=1)
        return logits, self.value_head(z).squeeze(-1)

    def sample(self, obs: torch.Tensor, inputs: MaskInputs,
               generator: torch.Generator | None = None) -> PolicyOutput:
        """Sample an action per env under the step's masks."""
        logits, value = self._logits_fn(obs)
        actions, masks = sample_heads(logits, inputs, generator)
        log_prob, entropy, probs, relevance = score_heads(logits, masks, actions)
        return PolicyOutput(actions, log_prob, entropy, value, probs, masks, relevance)

    def score(self, obs: torch.Tensor, masks: torch.Tensor, actions: torch.Tensor
              ) -> PolicyOutput:
        """Log-probabilities, entropies and values of given actions under stored masks."""
        logits, value = self._logits_fn(obs)
        log_prob, entropy, probs, relevance = score_heads(logits, masks, actions)
        return PolicyOutput(actions, log_prob, entropy, value, probs, masks, relevance)


def head_parameters(policy: TamiyoPolicy) -> dict[str, list[nn.Parameter]]:
    """Each action head's own parameters (for per-head gradient norms)."""
    return {name: list(head.parameters()) for name, head in policy.heads.items()}
