"""Run configuration of the trainer: one documented dataclass that also becomes `--help`.

Each field's `help` metadata is the text argparse shows; `to_run_config` turns the
resolved settings into the `esper.telemetry.v1.RunConfig` declared at TRAINING_STARTED.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

from esper.telemetry.v1 import telemetry_pb2 as tpb


def _f(default: Any, help: str, **kw: object) -> Any:
    return field(default=default, metadata={"help": help, **kw})


@dataclass
class TrainerConfig:
    """Everything a training run needs; CLI flags map 1:1 onto these fields."""

    episodes: int = _f(160, "episodes to train in total (across all envs and ranks)")
    envs: int = _f(4, "environments (host networks) run vectorized per process")
    seed: int = _f(0, "random seed (policy init, tasks, sampling)")
    max_epochs: int = _f(12, "host training epochs per episode; the controller acts after each")
    device: str = _f("cpu", "device for policy and hosts: cpu or cuda[:N]")
    compile: bool = _f(False, "wrap the policy in torch.compile")
    compile_backend: str = _f("inductor", "torch.compile backend (with --compile)")
    compile_mode: str = _f("default", "torch.compile mode (with --compile)")
    lr: float = _f(3e-3, "Adam learning rate of the policy")
    clip_ratio: float = _f(0.2, "PPO clip epsilon")
    entropy_coef: float = _f(0.02, "entropy bonus coefficient (start value when annealed)")
    entropy_coef_end: float | None = _f(
        0.005, "anneal the entropy coefficient linearly to this value over the run; 'none' keeps "
        "it constant"
    )
    value_coef: float = _f(0.5, "value-loss coefficient")
    max_grad_norm: float = _f(0.5, "global gradient-norm clip")
    gamma: float = _f(0.97, "discount factor")
    gae_lambda: float = _f(0.95, "GAE lambda")
    ppo_epochs: int = _f(4, "inner PPO epochs per update")
    n_minibatches: int = _f(4, "minibatches per inner epoch")
    target_kl: float | None = _f(
        0.05, "stop the inner epochs early past this approx KL (omit: never)"
    )
    param_budget: int = _f(6000, "seed parameter budget per env; reward pays rent against it")
    budget_cost: float = _f(0.4, "reward cost per epoch of using the whole parameter budget")
    reward_scale: float = _f(10.0, "reward per unit of host accuracy gained")
    diagnostics_every: int = _f(
        10, "sample the throttled diagnostics (gradient CV, CUDA memory) every N PPO updates")
    analytics_every: int = _f(4, "emit a decision card per env every N epochs")
    vitals_every_s: float = _f(2.0, "seconds between SYSTEM_VITALS events")
    resume_path: str = _f("", "checkpoint to resume the policy from (empty: fresh run)")
    run_id: str | None = _f(None, "run id shared by all ranks")
    inject_nan_update: int | None = _f(
        None, "TESTING AID: make the loss NaN in every minibatch of PPO update N (1-based); "
        "the update is skipped and reported as non-finite", group="fault injection")
    inject_nan_grad_update: int | None = _f(
        None, "TESTING AID: make a gradient NaN in every minibatch of PPO update N "
        "(1-based); the optimizer step is skipped and reported", group="fault injection")
    inject_dead_heads_update: int | None = _f(
        None, "TESTING AID: zero the gradients of every action head but op in every "
        "minibatch of PPO update N (1-based), as when the other heads stop learning; that "
        "update samples the gradient CV", group="fault injection")

    def validate(self) -> None:
        """Raise ValueError with a readable message for impossible settings."""
        checks = [
            (self.episodes >= 1, "--episodes must be >= 1"),
            (self.envs >= 1, "--envs must be >= 1"),
            (self.max_epochs >= 2, "--max-epochs must be >= 2"),
            (0 < self.clip_ratio < 1, "--clip-ratio must be in (0, 1)"),
            (self.lr > 0 and math.isfinite(self.lr), "--lr must be a positive number"),
            (self.ppo_epochs >= 1, "--ppo-epochs must be >= 1"),
            (self.n_minibatches >= 1, "--n-minibatches must be >= 1"),
            (0 < self.gamma <= 1, "--gamma must be in (0, 1]"),
            (0 <= self.gae_lambda <= 1, "--gae-lambda must be in [0, 1]"),
            (self.param_budget >= 1, "--param-budget must be >= 1"),
            (self.diagnostics_every >= 1, "--diagnostics-every must be >= 1"),
            (self.inject_nan_update is None or self.inject_nan_update >= 1,
             "--inject-nan-update must be >= 1"),
            (self.inject_nan_grad_update is None or self.inject_nan_grad_update >= 1,
             "--inject-nan-grad-update must be >= 1"),
            (self.inject_dead_heads_update is None or self.inject_dead_heads_update >= 1,
             "--inject-dead-heads-update must be >= 1"),
            (self.analytics_every >= 1, "--analytics-every must be >= 1"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ValueError(msg)

    def fault_injections(self) -> list[str]:
        """The faults this run injects on purpose, as declared in its RunConfig."""
        out = []
        if self.inject_nan_update is not None:
            out.append(f"nan-loss@update{self.inject_nan_update}")
        if self.inject_nan_grad_update is not None:
            out.append(f"nan-grad@update{self.inject_nan_grad_update}")
        if self.inject_dead_heads_update is not None:
            out.append(f"dead-heads@update{self.inject_dead_heads_update}")
        return out

    def injected_fault(self, update_index: int) -> str | None:
        """"loss" / "grad" (NaN) or "dead_heads" when PPO update `update_index` (1-based)
        is to be broken on purpose."""
        if update_index == self.inject_nan_update:
            return "loss"
        if update_index == self.inject_nan_grad_update:
            return "grad"
        if update_index == self.inject_dead_heads_update:
            return "dead_heads"
        return None

    def entropy_anneal(self) -> tpb.EntropyAnneal:
        """The entropy schedule as the contract's typed message."""
        if self.entropy_coef_end is None:
            return tpb.EntropyAnneal(
                kind=tpb.SCHEDULE_KIND_CONSTANT, start=self.entropy_coef, end=self.entropy_coef
            )
        return tpb.EntropyAnneal(
            kind=tpb.SCHEDULE_KIND_LINEAR,
            start=self.entropy_coef,
            end=self.entropy_coef_end,
            anneal_episodes=self.episodes,
        )

    def entropy_coef_at(self, episodes_done: int) -> float:
        """Entropy coefficient after `episodes_done` episodes (linear anneal or constant)."""
        if self.entropy_coef_end is None:
            return self.entropy_coef
        frac = min(1.0, episodes_done / max(1, self.episodes))
        return self.entropy_coef + frac * (self.entropy_coef_end - self.entropy_coef)


def config_fields() -> list:
    """Dataclass fields in declaration order (for the CLI)."""
    return list(fields(TrainerConfig))
