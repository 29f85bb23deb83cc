"""Morphogenetic environment: a host network training on the task, with seed slots.

One env step = the controller's action is applied, then the host trains one epoch (a
few minibatches, seeds included), then the lifecycle ticks and the reward is paid:
reward_scale * (accuracy gain) - budget_cost * (seed params in use / param_budget).
`VecEnv` runs n_envs of these in one process. All randomness comes from each env's own
torch.Generator, so results never depend on anything else touching the global RNG.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from esper.telemetry.v1 import telemetry_pb2 as tpb
from trainer_svc.actions import ALPHA_TARGETS, OPS, SLOT_IDS, TEMPO_EPOCHS, Action
from trainer_svc.blueprints import BLUEPRINT_IDS, build_seed, param_count
from trainer_svc.lifecycle import (
    ACTIVE_STAGES,
    BLENDED_STAGES,
    INCUBATING_STAGES,
    OCCUPYING_STAGES,
    LifecycleRecord,
    Slot,
)
from trainer_svc.task import N_CLASSES, N_FEATURES, TaskData

S = tpb.SeedStage
OP = tpb.LifecycleOp
HOST_WIDTH = 16
HOST_LR = 1e-2
SEED_LR = 1e-2
BATCHES_PER_EPOCH = 4
BATCH_SIZE = 128
N_STAGES = 9  # SeedStage values 1..9
OBS_PER_SLOT = N_STAGES + 2 + len(BLUEPRINT_IDS)
OBS_DIM = 4 + OBS_PER_SLOT * len(SLOT_IDS)


def init_linear_(layer: nn.Linear, g: torch.Generator) -> None:
    """PyTorch's default Linear init, drawn from `g` instead of the global RNG."""
    bound = 1.0 / math.sqrt(layer.in_features)
    with torch.no_grad():
        layer.weight.uniform_(-bound, bound, generator=g)
        if layer.bias is not None:
            layer.bias.uniform_(-bound, bound, generator=g)


def init_module_(module: nn.Module, g: torch.Generator) -> None:
    for m in module.modules():
        if isinstance(m, nn.Linear):
            init_linear_(m, g)


class HostNet(nn.Module):
    """A narrow MLP with one slot after each hidden layer (slot k after layer k)."""

    def __init__(self, width: int = HOST_WIDTH) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            [nn.Linear(N_FEATURES, width)]
            + [nn.Linear(width, width) for _ in range(len(SLOT_IDS) - 1)]
        )
        self.head = nn.Linear(width, N_CLASSES)

    def forward(self, x: torch.Tensor, slots: list[Slot]) -> torch.Tensor:
        h = x
        for layer, slot in zip(self.layers, slots, strict=True):
            h = _apply_slot(F.relu(layer(h)), slot)
        return self.head(h)


def _apply_slot(h: torch.Tensor, slot: Slot) -> torch.Tensor:
    """h + alpha * seed(h) when blended; an incubating seed learns without changing h."""
    if slot.module is None:
        return h
    if slot.stage in BLENDED_STAGES:
        return h + slot.alpha * slot.module(h)
    if slot.stage in INCUBATING_STAGES:
        s = slot.module(h.detach())
        return h + (s - s.detach())  # value h; the seed gets the gradient of an alpha=1 blend
    return h


@dataclass
class StepResult:
    """What one env step produced (for rewards, observations and telemetry)."""

    reward: float
    accuracy: float
    val_loss: float
    train_loss: float
    records: list[LifecycleRecord] = field(default_factory=list)


#: Each seed module's parameters, listed once: telemetry reads every seed's gradient norm
#: every epoch, and a seed's parameters never change after it is built.
_SEED_PARAMS: weakref.WeakKeyDictionary[nn.Module, tuple[nn.Parameter, ...]] = (
    weakref.WeakKeyDictionary())


class MorphoEnv:
    """One host + slots. `reset` starts an episode with a fresh host."""

    def __init__(self, env_id: int, task: TaskData, *, seed: int, max_epochs: int,
                 param_budget: int, budget_cost: float, reward_scale: float,
                 device: torch.device) -> None:
        self.env_id, self.task, self.device = env_id, task, device
        self.max_epochs, self.param_budget = max_epochs, param_budget
        self.budget_cost, self.reward_scale = budget_cost, reward_scale
        self.g = torch.Generator().manual_seed(1_000_003 * (seed + 1) + env_id)
        self.x_train, self.y_train = task.x_train.to(device), task.y_train.to(device)
        self.x_val, self.y_val = task.x_val.to(device), task.y_val.to(device)
        self.bp_params = {bp: param_count(build_seed(bp, HOST_WIDTH)) for bp in BLUEPRINT_IDS}
        self.host_params = param_count(HostNet())
        self.episode = 0
        self._seed_counter = 0

    # -- episode -------------------------------------------------------------------------
    def reset(self) -> None:
        host = HostNet()
        init_module_(host, self.g)  # on CPU: the generator is a CPU one
        self.host = host.to(self.device)
        self.opt = torch.optim.Adam(self.host.parameters(), lr=HOST_LR)
        self.seed_opts: dict[str, torch.optim.Optimizer] = {}
        self.slots = [Slot(sid) for sid in SLOT_IDS]
        self.epoch = 0
        self.accuracy, self.val_loss = self._evaluate()
        self.initial_accuracy = self.accuracy
        self.last_reward = 0.0
        self.total_reward = 0.0
        self.fossilized = self.pruned = 0

    @property
    def done(self) -> bool:
        return self.epoch >= self.max_epochs

    def params_in_use(self) -> int:
        return sum(s.params for s in self.slots if s.stage in OCCUPYING_STAGES)

    # -- masks and observation -----------------------------------------------------------
    def slot_masks(self) -> torch.Tensor:
        """[n_ops, n_slots] bool: slots where each op is valid."""
        stages = [s.stage for s in self.slots]
        rows = {
            OP.LIFECYCLE_OP_WAIT: [True] * len(stages),
            OP.LIFECYCLE_OP_GERMINATE: [st == S.SEED_STAGE_DORMANT for st in stages],
            OP.LIFECYCLE_OP_SET_ALPHA_TARGET: [
                st in (S.SEED_STAGE_BLENDING, S.SEED_STAGE_HOLDING) for st in stages],
            OP.LIFECYCLE_OP_PRUNE: [st in ACTIVE_STAGES for st in stages],
            OP.LIFECYCLE_OP_FOSSILIZE: [st == S.SEED_STAGE_HOLDING for st in stages],
            OP.LIFECYCLE_OP_ADVANCE: [st == S.SEED_STAGE_TRAINING for st in stages],
        }
        m = torch.tensor([rows[op] for op in OPS], dtype=torch.bool)
        if not self.blueprint_mask().any():
            m[OPS.index(OP.LIFECYCLE_OP_GERMINATE)] = False
        return m

    def blueprint_mask(self) -> torch.Tensor:
        """Blueprints that still fit the parameter budget."""
        room = self.param_budget - self.params_in_use()
        return torch.tensor([self.bp_params[bp] <= room for bp in BLUEPRINT_IDS])

    def op_mask(self, slot_masks: torch.Tensor) -> torch.Tensor:
        return slot_masks.any(dim=1)

    def observe(self) -> torch.Tensor:
        feats = [
            self.epoch / self.max_epochs,
            self.accuracy,
            (self.accuracy - self.initial_accuracy) * 5.0,
            self.params_in_use() / self.param_budget,
        ]
        for s in self.slots:
            stage = [0.0] * N_STAGES
            stage[s.stage - 1] = 1.0
            bp = [float(s.blueprint_id == b) for b in BLUEPRINT_IDS]
            feats += stage + [s.alpha, min(s.epochs_in_stage, 10) / 10.0] + bp
        return torch.tensor(feats, dtype=torch.float32)

    # -- step ----------------------------------------------------------------------------
    def apply(self, action: Action) -> list[LifecycleRecord]:
        """Carry out a (valid, masked) action; returns the lifecycle records it caused."""
        out: list[LifecycleRecord] = []
        op = action.lifecycle_op
        if op == OP.LIFECYCLE_OP_WAIT:
            return out
        slot = self.slots[action.slot]
        if op == OP.LIFECYCLE_OP_GERMINATE:
            bp = BLUEPRINT_IDS[action.blueprint]
            module = build_seed(bp, HOST_WIDTH)
            init_module_(module, self.g)
            module = module.to(self.device)
            self._seed_counter += 1
            seed_id = f"env{self.env_id}-seed{self._seed_counter}"
            slot.germinate(bp, seed_id, module, param_count(module),
                           ALPHA_TARGETS[action.alpha_target], TEMPO_EPOCHS[action.tempo],
                           self.accuracy, out)
            self.seed_opts[slot.slot_id] = torch.optim.Adam(module.parameters(), lr=SEED_LR)
        elif op == OP.LIFECYCLE_OP_ADVANCE:
            slot.advance(out)
        elif op == OP.LIFECYCLE_OP_SET_ALPHA_TARGET:
            slot.set_alpha_target(ALPHA_TARGETS[action.alpha_target])
        elif op == OP.LIFECYCLE_OP_PRUNE:
            slot.prune("controller pruned", out)
            self.pruned += 1
            self.seed_opts.pop(slot.slot_id, None)
        elif op == OP.LIFECYCLE_OP_FOSSILIZE:
            slot.fossilize(out)
            self.fossilized += any(r.kind == "fossilized" for r in out)
        return out

    def train_epoch(self) -> float:
        """A few minibatches of host (and seed) training; returns mean train loss."""
        self.host.train()
        perm = torch.randperm(self.x_train.shape[0], generator=self.g)
        total = 0.0
        for b in range(BATCHES_PER_EPOCH):
            idx = perm[b * BATCH_SIZE:(b + 1) * BATCH_SIZE].to(self.device)
            loss = F.cross_entropy(self.host(self.x_train[idx], self.slots), self.y_train[idx])
            self.opt.zero_grad(set_to_none=True)
            for o in self.seed_opts.values():
                o.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            for sid, o in self.seed_opts.items():
                if self._slot(sid).stage != S.SEED_STAGE_FOSSILIZED:
                    o.step()
            total += loss.item()
        return total / BATCHES_PER_EPOCH

    @torch.no_grad()
    def _evaluate(self) -> tuple[float, float]:
        self.host.eval()
        logits = self.host(self.x_val, self.slots)
        acc = (logits.argmax(dim=1) == self.y_val).float().mean().item()
        return acc, F.cross_entropy(logits, self.y_val).item()

    def _slot(self, slot_id: str) -> Slot:
        return self.slots[SLOT_IDS.index(slot_id)]

    def step(self, action: Action) -> StepResult:
        records = self.apply(action)
        train_loss = self.train_epoch()
        prev = self.accuracy
        self.accuracy, self.val_loss = self._evaluate()
        for s in self.slots:
            s.tick(self.accuracy, records)
        self.epoch += 1
        rent = self.budget_cost * self.params_in_use() / self.param_budget
        reward = self.reward_scale * (self.accuracy - prev) - rent
        self.last_reward = reward
        self.total_reward += reward
        return StepResult(reward, self.accuracy, self.val_loss, train_loss, records)

    def seed_grad_norm(self, slot: Slot) -> float | None:
        """Gradient norm of the slot's seed after the last minibatch; None without grads."""
        if slot.module is None:
            return None
        params = _SEED_PARAMS.get(slot.module)
        if params is None:  # walking a module's parameters costs more than the norm itself
            params = _SEED_PARAMS[slot.module] = tuple(slot.module.parameters())
        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return None
        return float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])))


class VecEnv:
    """n_envs MorphoEnvs stepped in lockstep in one process (env ids offset per rank)."""

    def __init__(self, n_envs: int, task: TaskData, *, env_id_offset: int = 0,
                 **env_kwargs: Any) -> None:
        self.envs = [MorphoEnv(env_id_offset + i, task, **env_kwargs) for i in range(n_envs)]

    def __len__(self) -> int:
        return len(self.envs)

    def reset(self) -> None:
        for e in self.envs:
            e.reset()

    def observe(self) -> torch.Tensor:
        return torch.stack([e.observe() for e in self.envs])

    def masks(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(op_mask [N, ops], slot_masks [N, ops, slots], blueprint_mask [N, bps])."""
        slot_masks = torch.stack([e.slot_masks() for e in self.envs])
        bp = torch.stack([e.blueprint_mask() for e in self.envs])
        return slot_masks.any(dim=2), slot_masks, bp

    def step(self, actions: list[Action]) -> list[StepResult]:
        return [e.step(a) for e, a in zip(self.envs, actions, strict=True)]
