"""Morphogenetic environment: a host network training on the task, with seed slots.

One env step = the controller's action is applied, then the host trains one epoch (a
few minibatches, seeds included), then the lifecycle ticks and the reward is paid:
reward_scale * (accuracy gain) - budget_cost * (seed params in use / param_budget).
`VecEnv` runs n_envs of these in one process. All randomness comes from each env's own
torch.Generator, so results never depend on anything else touching the global RNG.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from esper.telemetry.v1 import telemetry_pb2 as tpb
from trainer_svc.actions import (
    ALPHA_CURVES,
    ALPHA_TARGETS,
    BLUEPRINT_IDS,
    OPS,
    SLOT_IDS,
    SPEED_EPOCHS,
    STYLES,
    TEMPO_EPOCHS,
    Action,
)
from trainer_svc.blending import blend
from trainer_svc.blueprints import build_seed, param_count
from trainer_svc.lifecycle import (
    ACTIVE_STAGES,
    BLENDED_STAGES,
    INCUBATING_STAGES,
    OCCUPYING_STAGES,
    LifecycleRecord,
    Slot,
)
from trainer_svc.masks import MaskInputs
from trainer_svc.task import N_CLASSES, N_FEATURES, TaskData

S = tpb.SeedStage
OP = tpb.LifecycleOp
HOST_WIDTH = 16
HOST_LR = 1e-2
SEED_LR = 1e-2
BATCHES_PER_EPOCH = 4
BATCH_SIZE = 128
N_STAGES = 9  # SeedStage values 1..9
OBS_PER_SLOT = N_STAGES + 5 + len(BLUEPRINT_IDS) + len(STYLES)
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
    """The seed blended into h by its style at weight alpha; an incubating seed learns
    without changing h (it gets the gradient of an alpha=1 blend, the value stays h)."""
    if slot.module is None:
        return h
    if slot.stage in BLENDED_STAGES:
        return blend(slot.style, h, slot.module(h), slot.alpha)
    if slot.stage in INCUBATING_STAGES:
        b = blend(slot.style, h.detach(), slot.module(h.detach()), 1.0)
        return h + (b - b.detach())
    return h


@dataclass
class StepResult:
    """What one env step produced (for rewards, observations and telemetry)."""

    reward: float
    accuracy: float
    val_loss: float
    train_loss: float
    records: list[LifecycleRecord] = field(default_factory=list)


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
        #: slot id -> (its seed module, the module's parameters), see seed_params.
        self._seed_params: dict[str, tuple[nn.Module, tuple[nn.Parameter, ...]]] = {}
        #: The slots' modules when `_seeds` was listed, and that list (see seeds).
        self._seeds_of: list[nn.Module | None] = []
        self._seeds: tuple[tuple[int, tuple[nn.Parameter, ...]], ...] = ()

    # -- episode -------------------------------------------------------------------------
    def reset(self) -> None:
        host = HostNet()
        init_module_(host, self.g)  # on CPU: the generator is a CPU one
        self.host = host.to(self.device)
        self.opt = torch.optim.Adam(self.host.parameters(), lr=HOST_LR)
        self.seed_opts: dict[str, torch.optim.Optimizer] = {}
        self.slots = [Slot(sid) for sid in SLOT_IDS]
        self._seed_params.clear()
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
        """[n_ops, n_slots] bool: slots where each op is valid. A seed being faded out by a
        prune takes no op; FOSSILIZE needs alpha settled at its target."""
        slots = self.slots
        rows = {
            OP.LIFECYCLE_OP_WAIT: [True] * len(slots),
            OP.LIFECYCLE_OP_GERMINATE: [s.stage == S.SEED_STAGE_DORMANT for s in slots],
            OP.LIFECYCLE_OP_SET_ALPHA_TARGET: [
                s.stage in (S.SEED_STAGE_BLENDING, S.SEED_STAGE_HOLDING) and not s.fading
                for s in slots],
            OP.LIFECYCLE_OP_PRUNE: [s.stage in ACTIVE_STAGES and not s.fading for s in slots],
            OP.LIFECYCLE_OP_FOSSILIZE: [
                s.stage == S.SEED_STAGE_HOLDING and s.settled for s in slots],
            OP.LIFECYCLE_OP_ADVANCE: [s.stage == S.SEED_STAGE_TRAINING for s in slots],
        }
        m = torch.tensor([rows[op] for op in OPS], dtype=torch.bool)
        if not self.blueprint_mask().any():
            m[OPS.index(OP.LIFECYCLE_OP_GERMINATE)] = False
        return m

    def mask_inputs(self) -> MaskInputs:
        """This step's masks, batch of one (see trainer_svc.masks)."""
        slot = self.slot_masks()
        target = torch.tensor([[abs(a - s.alpha_target) > 1e-9 for a in ALPHA_TARGETS]
                               for s in self.slots])
        blended = torch.tensor([s.module is not None and s.stage in BLENDED_STAGES
                                and s.alpha > 0 for s in self.slots])
        return MaskInputs(slot.any(dim=1)[None], slot[None], self.blueprint_mask()[None],
                          target[None], blended[None])

    def blueprint_mask(self) -> torch.Tensor:
        """Blueprints that still fit the parameter budget."""
        room = self.param_budget - self.params_in_use()
        return torch.tensor([self.bp_params[bp] <= room for bp in BLUEPRINT_IDS])

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
            style = [float(s.module is not None and s.style == st) for st in STYLES]
            feats += stage + [s.alpha, min(s.epochs_in_stage, 10) / 10.0, s.alpha_target,
                              float(s.ramp is not None), float(s.fading)] + bp + style
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
            params = tuple(module.parameters())  # listed once: count, optimizer, telemetry
            self._seed_params[slot.slot_id] = (module, params)
            self._seed_counter += 1
            seed_id = f"env{self.env_id}-seed{self._seed_counter}"
            slot.germinate(bp, seed_id, module, sum(p.numel() for p in params),
                           STYLES[action.style], ALPHA_TARGETS[action.alpha_target],
                           TEMPO_EPOCHS[action.tempo], self.accuracy, out)
            self.seed_opts[slot.slot_id] = torch.optim.Adam(params, lr=SEED_LR)
        elif op == OP.LIFECYCLE_OP_ADVANCE:
            slot.advance(out)
        elif op == OP.LIFECYCLE_OP_SET_ALPHA_TARGET:
            slot.set_alpha_target(ALPHA_TARGETS[action.alpha_target],
                                  SPEED_EPOCHS[action.alpha_speed],
                                  ALPHA_CURVES[action.alpha_curve])
        elif op == OP.LIFECYCLE_OP_PRUNE:
            slot.prune("controller pruned", out, epochs=SPEED_EPOCHS[action.alpha_speed],
                       curve=ALPHA_CURVES[action.alpha_curve],
                       counterfactual=self.counterfactual(slot))
        elif op == OP.LIFECYCLE_OP_FOSSILIZE:
            slot.fossilize(out, counterfactual=self.counterfactual(slot))
        self._retire(out)
        return out

    def _retire(self, records: list[LifecycleRecord]) -> None:
        """Count seeds fossilized / removed by `records`; a removed seed stops training."""
        for rec in records:
            if rec.kind == "pruned":
                self.pruned += 1
                self.seed_opts.pop(rec.slot_id, None)
            elif rec.kind == "fossilized":
                self.fossilized += 1

    @torch.no_grad()
    def counterfactual(self, slot: Slot) -> float | None:
        """Validation accuracy with the slot's seed minus with its alpha forced to 0; None
        when the seed is not in the output (incubating, or alpha 0): nothing to measure."""
        if slot.module is None or slot.stage not in BLENDED_STAGES or slot.alpha <= 0:
            return None
        with_seed, _ = self._evaluate()
        alpha, slot.alpha = slot.alpha, 0.0
        try:
            without, _ = self._evaluate()
        finally:
            slot.alpha = alpha
        return with_seed - without

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
        ticked: list[LifecycleRecord] = []
        for s in self.slots:
            s.tick(self.accuracy, ticked)
        self._retire(ticked)
        records += ticked
        self.epoch += 1
        rent = self.budget_cost * self.params_in_use() / self.param_budget
        reward = self.reward_scale * (self.accuracy - prev) - rent
        self.last_reward = reward
        self.total_reward += reward
        return StepResult(reward, self.accuracy, self.val_loss, train_loss, records)

    def seed_params(self, slot: Slot) -> tuple[nn.Parameter, ...]:
        """The parameters of the slot's seed (none without a seed), listed once per seed:
        telemetry reads every seed's gradients every epoch, and a seed's parameters never
        change after it is built."""
        module = slot.module
        if module is None:
            return ()
        listed = self._seed_params.get(slot.slot_id)
        if listed is None or listed[0] is not module:
            listed = self._seed_params[slot.slot_id] = (module, tuple(module.parameters()))
        return listed[1]

    def seeds(self) -> tuple[tuple[int, tuple[nn.Parameter, ...]], ...]:
        """(slot index, its seed's parameters) for each slot holding a seed, in slot order;
        listed again only when a slot's module changed (seed_grad_norms reads it every
        epoch)."""
        modules = [s.module for s in self.slots]
        if modules != self._seeds_of:  # compares the modules by identity
            self._seeds_of = modules
            self._seeds = tuple((i, self.seed_params(s)) for i, s in enumerate(self.slots)
                                if s.module is not None)
        return self._seeds

    def seed_grad_norm(self, slot: Slot) -> float | None:
        """Gradient norm of the slot's seed after the last minibatch; None without grads.
        (Telemetry reads every seed's at once with `seed_grad_norms`.)"""
        grads = [p.grad for p in self.seed_params(slot) if p.grad is not None]
        if not grads:
            return None
        return float(torch.linalg.vector_norm(torch.cat([g.reshape(-1) for g in grads])))


def seed_grad_norms(envs: list[MorphoEnv]) -> list[list[float | None]]:
    """Every env's seed gradient norms, per slot: as `seed_grad_norm`, except that a
    non-finite norm is None too. One batched norm over every seed's gradients (and one
    device sync) per call, however many seeds: this runs on the training thread after every
    epoch. The norm of a concatenation is the root of the sum of its parts' squared norms:
    each seed's is the hypot of its tensors' norms."""
    out: list[list[float | None]] = [[None] * len(e.slots) for e in envs]
    grads: list[torch.Tensor] = []
    spans: list[tuple[list[float | None], int, int]] = []  # per seed: its row, slot, count
    for env, row in zip(envs, out, strict=True):
        for si, params in env.seeds():
            gs = [g for p in params if (g := p.grad) is not None]
            if gs:
                grads += gs
                spans.append((row, si, len(gs)))
    if not spans:
        return out
    norms = tensor_floats(torch._foreach_norm(grads))
    k = 0
    for row, si, n in spans:
        norm = math.hypot(*norms[k:k + n])
        k += n
        if math.isfinite(norm):
            row[si] = norm
    return out


def tensor_floats(scalars: tuple[torch.Tensor, ...] | list[torch.Tensor]) -> list[float]:
    """The values of 0-dim tensors as floats: one .item() each on the CPU (cheaper than
    stacking a few), one stack and one device sync elsewhere."""
    if scalars[0].is_cpu:
        return [t.item() for t in scalars]
    return torch.stack(scalars).tolist()


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

    def masks(self) -> MaskInputs:
        """Every env's mask inputs, batched [N, ...]."""
        return MaskInputs.stack([e.mask_inputs() for e in self.envs])

    def step(self, actions: list[Action]) -> list[StepResult]:
        return [e.step(a) for e, a in zip(self.envs, actions, strict=True)]
