"""Score a policy on fresh episodes: the trained Tamiyo vs a uniform-random masked policy.

Both are run on the same envs with the same seeds (same hosts, same data order), so
the difference in mean episode reward is the controller's doing.
"""

from __future__ import annotations

import torch

from trainer_svc.actions import HEADS, Action
from trainer_svc.config import TrainerConfig
from trainer_svc.env import VecEnv
from trainer_svc.policy import TamiyoPolicy, masked_logits
from trainer_svc.task import make_task

EVAL_SEED_OFFSET = 50_000


def _random_actions(op_mask: torch.Tensor, slot_masks: torch.Tensor, bp_mask: torch.Tensor,
                    g: torch.Generator) -> list[Action]:
    """Uniform over valid choices of every head (slot conditioned on the op)."""
    def pick(mask: torch.Tensor) -> int:
        probs = masked_logits(torch.zeros(mask.shape), mask).softmax(-1)
        return int(torch.multinomial(probs, 1, generator=g))

    out = []
    for i in range(op_mask.shape[0]):
        op = pick(op_mask[i])
        out.append(Action(op, pick(slot_masks[i, op]), pick(bp_mask[i]),
                          *(pick(torch.ones(h.n_actions, dtype=torch.bool)) for h in HEADS[3:])))
    return out


def mean_episode_reward(cfg: TrainerConfig, policy: TamiyoPolicy | None, *, batches: int = 4,
                        seed: int | None = None) -> float:
    """Mean total episode reward over `batches` x cfg.envs episodes (policy None = random).

    The trained policy samples from its (masked) distribution, as during training.
    """
    seed = cfg.seed + EVAL_SEED_OFFSET if seed is None else seed
    device = torch.device("cpu")
    vec = VecEnv(cfg.envs, make_task(cfg.seed), seed=seed, max_epochs=cfg.max_epochs,
                 param_budget=cfg.param_budget, budget_cost=cfg.budget_cost,
                 reward_scale=cfg.reward_scale, device=device)
    g = torch.Generator().manual_seed(seed)
    if policy is not None:
        policy = policy.to(device)
    totals: list[float] = []
    for _ in range(batches):
        vec.reset()
        for _t in range(cfg.max_epochs):
            op_mask, slot_masks, bp_mask = vec.masks()
            if policy is None:
                actions = _random_actions(op_mask, slot_masks, bp_mask, g)
            else:
                with torch.no_grad():
                    out = policy.evaluate(vec.observe(), op_mask, slot_masks, bp_mask,
                                          generator=g)
                actions = [Action(*r) for r in out.actions.tolist()]
            vec.step(actions)
        totals += [e.total_reward for e in vec.envs]
    return sum(totals) / len(totals)
