"""Score a policy on fresh episodes: the trained Tamiyo vs a uniform-random masked policy.

Both are run on the same envs with the same seeds (same hosts, same data order), so
the difference in mean episode reward is the controller's doing.
"""

from __future__ import annotations

import torch

from trainer_svc.actions import HEADS, MAX_ACTIONS, Action
from trainer_svc.config import TrainerConfig
from trainer_svc.env import VecEnv
from trainer_svc.policy import TamiyoPolicy, sample_heads
from trainer_svc.task import make_task

EVAL_SEED_OFFSET = 50_000




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
            inputs = vec.masks()
            if policy is None:  # uniform over the valid choices of every head
                zeros = torch.zeros(len(vec), len(HEADS), MAX_ACTIONS)
                rows, _ = sample_heads(zeros, inputs, g)
            else:
                with torch.no_grad():
                    rows = policy.sample(vec.observe(), inputs, generator=g).actions
            vec.step([Action(*r) for r in rows.tolist()])
        totals += [e.total_reward for e in vec.envs]
    return sum(totals) / len(totals)
