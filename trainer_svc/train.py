"""The training loop: n_envs episodes in parallel, then one PPO update, repeated.

Per batch: reset every env (fresh hosts), then max_epochs steps of (observe, masked
policy sample, env step, telemetry), then GAE + PPO update and the batch barrier event.
Telemetry goes through `sink.emit` only (a non-blocking enqueue); nothing emitted feeds
back into training, so a run with telemetry on or off gives the same policy.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import torch

from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_client.deferred import Deferred
from trainer_svc import emit
from trainer_svc.actions import BLUEPRINT_IDS, HEADS, SLOT_IDS, Action
from trainer_svc.config import TrainerConfig
from trainer_svc.distributed import (
    DistInfo,
    all_gather_floats,
    allreduce_gradients,
    allreduce_mean,
    broadcast_parameters,
)
from trainer_svc.env import HOST_WIDTH, OBS_DIM, VecEnv, seed_grad_norms
from trainer_svc.policy import PolicyOutput, TamiyoPolicy
from trainer_svc.ppo import PPOConfig, Rollout, UpdateResult, ppo_update
from trainer_svc.task import TASK_NAME, make_task
from trainer_svc.trends import TrendTracker
from trainer_svc.vitals import VitalsSampler, memory_warning

ET = tpb.EventType


class EventSink(Protocol):
    """What the loop needs from telemetry (TelemetryClient, NullTelemetry, a list sink).

    A sink with an `emit_deferred(item)` method gets the per-step events as carriers to
    build off the training thread (`item.build()`, see trainer_svc.capture); others get
    them built. A sink whose `enabled` attribute is False (NullTelemetry) gets nothing: the
    loop then skips building events and sampling vitals too, so "telemetry off" costs
    nothing and is an honest baseline for the overhead benchmark."""

    def emit(self, event: tpb.TelemetryEvent) -> None: ...


@dataclass
class BatchReport:
    """Progress of one finished batch (for the progress bar)."""

    batch_idx: int
    n_batches: int
    episodes_completed: int
    avg_reward: float
    avg_accuracy: float
    #: Seconds since the training loop started: the clock of TrainResult.wall_time_s, so the
    #: progress bar and the completion line agree (start-up before the loop counts in neither).
    elapsed_s: float | None = None


@dataclass
class TrainResult:
    status: str  # "completed" | "interrupted"
    episodes_completed: int
    final_accuracy: float
    final_avg_reward: float
    wall_time_s: float
    batch_avg_rewards: list[float] = field(default_factory=list)
    policy: TamiyoPolicy | None = None


def resolve_device(name: str) -> torch.device:
    """torch.device for --device; ValueError with a clear message when unusable."""
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ValueError(f"--device {name!r} is not a device torch knows: {exc}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name} requested but CUDA is not available here "
                         f"(torch {torch.__version__}); use --device cpu")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"--device must be cpu or cuda[:N], got {name!r}")
    return device


def batches_for(cfg: TrainerConfig, world_size: int) -> int:
    per_batch = cfg.envs * world_size
    return max(1, math.ceil(cfg.episodes / per_batch))


def new_run_id() -> str:
    return f"run-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"


class Trainer:
    """Owns the envs, the policy and the optimizer of one (rank of a) run."""

    def __init__(self, cfg: TrainerConfig, sink: EventSink, *, dist_info: DistInfo | None = None,
                 stop: threading.Event | None = None,
                 on_batch: Callable[[BatchReport], None] | None = None) -> None:
        cfg.validate()
        self.cfg, self.sink = cfg, sink
        self.telemetry_on = bool(getattr(sink, "enabled", True))
        #: Hands a captured event (trainer_svc.capture) to the sink: as is where the sink
        #: builds events itself (TelemetryClient.emit_deferred), else built here.
        self._send: Callable[[Deferred], None] = getattr(
            sink, "emit_deferred", None) or (lambda item: sink.emit(item.build()))
        self.dist = dist_info or DistInfo()
        self.stop = stop or threading.Event()
        self.on_batch = on_batch
        self.device = resolve_device(cfg.device)
        self.n_envs_total = cfg.envs * self.dist.world_size
        self.n_batches = batches_for(cfg, self.dist.world_size)
        self.task = make_task(cfg.seed)
        self.vec = VecEnv(cfg.envs, self.task, env_id_offset=self.dist.rank * cfg.envs,
                          seed=cfg.seed, max_epochs=cfg.max_epochs,
                          param_budget=cfg.param_budget, budget_cost=cfg.budget_cost,
                          reward_scale=cfg.reward_scale, device=self.device)
        torch.manual_seed(cfg.seed)
        self.policy = TamiyoPolicy(OBS_DIM).to(self.device)
        self.start_episode = 0
        if cfg.resume_path:
            self._load_checkpoint(cfg.resume_path)
        broadcast_parameters(self.dist, self.policy)
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=cfg.lr, eps=1e-5)
        if cfg.compile:
            self.policy.enable_compile(cfg.compile_backend, cfg.compile_mode)
        self.sample_gen = torch.Generator(device=self.device).manual_seed(
            cfg.seed * 7919 + self.dist.rank)
        self.perm_gen = torch.Generator().manual_seed(cfg.seed * 104_729 + 1)
        self.vitals = VitalsSampler(cfg.vitals_every_s, self.device)
        self.trends = TrendTracker()
        self.updates = 0

    # -- checkpoints ---------------------------------------------------------------------
    def _load_checkpoint(self, path: str) -> None:
        try:
            state = torch.load(path, map_location=self.device, weights_only=True)
            self.policy.load_state_dict(state["policy"])
        except (OSError, KeyError, RuntimeError) as exc:
            raise ValueError(f"cannot resume from {path}: {exc}") from None
        self.start_episode = int(state.get("episodes", 0))

    def save_checkpoint(self, path: str, episodes: int) -> None:
        torch.save({"policy": self.policy.state_dict(), "episodes": episodes}, path)

    # -- telemetry helpers ---------------------------------------------------------------
    def run_config(self) -> tpb.RunConfig:
        return emit.run_config(
            self.cfg, n_envs_total=self.n_envs_total, world_size=self.dist.world_size,
            host_params=self.vec.envs[0].host_params, slot_ids=SLOT_IDS,
            blueprints=BLUEPRINT_IDS, task=TASK_NAME, policy_device=str(self.device),
            compile_backend=self.cfg.compile_backend, compile_mode=self.cfg.compile_mode)

    def _maybe_vitals(self) -> None:
        if self.telemetry_on and self.vitals.due():
            payload = self.vitals.sample()
            self.sink.emit(emit.system_vitals(payload))
            warn = memory_warning(payload)
            if warn is not None:
                self.sink.emit(emit.memory_warning(warn))

    def _stopping(self) -> bool:
        """Stop requested on any rank (all ranks must agree to stay in lockstep)."""
        return allreduce_mean(self.dist, float(self.stop.is_set())) > 0

    # -- the loop ------------------------------------------------------------------------
    def run(self) -> TrainResult:
        t0 = time.monotonic()
        on = self.telemetry_on
        if on:
            self.sink.emit(emit.training_started(self.run_config(), self.dist.rank))
        if on and self.cfg.resume_path and self.dist.rank == 0:
            self.sink.emit(emit.checkpoint_loaded(self.cfg.resume_path, self.start_episode))
        self._maybe_vitals()
        status, episodes_done = "completed", 0
        final_acc = final_reward = 0.0
        history: list[float] = []
        for batch_idx in range(self.n_batches):
            if self._stopping():
                status = "interrupted"
                break
            rollout = self._collect(batch_idx)
            if rollout is None:
                status = "interrupted"
                break
            episodes_done += self.n_envs_total
            stats = self._update(rollout, batch_idx, episodes_done)
            accs = all_gather_floats(self.dist, [e.accuracy for e in self.vec.envs])
            rewards = all_gather_floats(self.dist, [e.total_reward for e in self.vec.envs])
            final_acc, final_reward = sum(accs) / len(accs), sum(rewards) / len(rewards)
            history.append(final_reward)
            if on and self.dist.rank == 0:
                self._emit_batch_end(batch_idx, stats, episodes_done, accs, rewards)
            if self.on_batch is not None:
                self.on_batch(BatchReport(batch_idx, self.n_batches, episodes_done,
                                          final_reward, final_acc, time.monotonic() - t0))
        wall = time.monotonic() - t0
        if on and self.dist.rank == 0:
            self.sink.emit(emit.training_completed(
                total_episodes=episodes_done, final_accuracy=final_acc,
                final_avg_reward=final_reward, wall_time_s=wall, status=status))
        return TrainResult(status, episodes_done, final_acc, final_reward, wall, history,
                           self.policy)

    def _collect(self, batch_idx: int) -> tuple[Rollout, torch.Tensor, float] | None:
        """Play one episode in every env: (rollout, last values, wall seconds of its steps);
        None when a stop was requested midway."""
        steps, n = self.cfg.max_epochs, len(self.vec)
        self.vec.reset()
        buf: dict[str, list[torch.Tensor]] = {k: [] for k in (
            "obs", "masks", "actions", "log_probs", "values", "rewards", "dones")}
        t0 = time.perf_counter()
        for t in range(steps):
            if self._stopping():
                return None
            obs = self.vec.observe().to(self.device)
            inputs = self.vec.masks().to(self.device)
            with torch.no_grad():
                out = self.policy.sample(obs, inputs, generator=self.sample_gen)
            rows = out.actions.cpu().tolist()
            results = self.vec.step([Action(*r) for r in rows])
            for k, v in (("obs", obs), ("masks", out.masks), ("actions", out.actions),
                         ("log_probs", out.log_prob), ("values", out.value)):
                buf[k].append(v)
            buf["rewards"].append(torch.tensor([r.reward for r in results], device=self.device))
            buf["dones"].append(torch.full((n,), float(t == steps - 1), device=self.device))
            if self.telemetry_on:
                self._emit_step(batch_idx, t, out, rows, results)
                self._maybe_vitals()
        rollout_s = time.perf_counter() - t0
        if self.telemetry_on:
            self._emit_episode_end(batch_idx)
        rollout = Rollout(**{k: torch.stack(v) for k, v in buf.items()})
        return rollout, torch.zeros(n, device=self.device), rollout_s  # no bootstrap

    def _episode(self, batch_idx: int, env_id: int) -> int:
        return self.start_episode + batch_idx * self.n_envs_total + env_id

    def _emit_step(self, batch_idx: int, t: int, out: PolicyOutput, rows: list[list[int]],
                   results: list) -> None:
        """The step's events for every env: lifecycle records, EPOCH_COMPLETED and, every
        analytics_every epochs, a decision card. Captured as plain values (one batched
        gradient-norm computation and one .tolist() per tensor for all envs) and handed to
        the sink to build; built here only for a sink without emit_deferred."""
        send = self._send
        norms = seed_grad_norms(self.vec.envs)
        cards = (t + 1) % self.cfg.analytics_every == 0
        if cards:
            probs, entropies, masks, relevant, values = (
                x.tolist() for x in (out.probs, out.entropy, out.masks, out.relevance,
                                     out.value))
        for i, (env, res) in enumerate(zip(self.vec.envs, results, strict=True)):
            env_id, epoch = env.env_id, env.epoch
            episode = self._episode(batch_idx, env_id)
            for rec in res.records:
                send(emit.capture_lifecycle(rec, env_id=env_id, epoch=epoch, episode=episode,
                                            batch=batch_idx))
            send(emit.capture_epoch_completed(env, res, episode=episode, batch=batch_idx,
                                              grad_norms=norms[i]))
            if cards:
                send(emit.capture_decision(
                    env_id=env_id, action_row=rows[i], probs=probs[i], entropies=entropies[i],
                    masks=masks[i], relevant=relevant[i], value=values[i], reward=res.reward,
                    epoch=epoch, episode=episode, batch=batch_idx))

    def _emit_episode_end(self, batch_idx: int) -> None:
        for env in self.vec.envs:
            self.sink.emit(emit.episode_outcome(env, episode=self._episode(batch_idx, env.env_id),
                                                batch=batch_idx))

    def _update(self, collected: tuple[Rollout, torch.Tensor, float], batch_idx: int,
                episodes_done: int) -> UpdateResult:
        rollout, last_value, rollout_s = collected
        cfg = self.cfg
        coef = cfg.entropy_coef_at(self.start_episode + episodes_done - self.n_envs_total)
        ppo_cfg = PPOConfig(cfg.clip_ratio, coef, cfg.value_coef, cfg.max_grad_norm,
                            cfg.ppo_epochs, cfg.n_minibatches, cfg.gamma, cfg.gae_lambda,
                            cfg.target_kl, cfg.lr)
        self.updates += 1
        fault = cfg.injected_fault(self.updates)
        stats = ppo_update(
            self.policy, self.optimizer, rollout, last_value, ppo_cfg,
            generator=self.perm_gen, device=self.device,
            sample_diagnostics=(self.updates - 1) % cfg.diagnostics_every == 0
            or fault == "dead_heads",
            allreduce_grads=(lambda m: allreduce_gradients(self.dist, m))
            if self.dist.enabled else None,
            allreduce_mean=(lambda v: allreduce_mean(self.dist, v))
            if self.dist.enabled else None,
            inject=fault)
        steps = rollout.rewards.shape[0]
        if rollout_s > 0 and steps:
            stats.payload.fps = steps * rollout.rewards.shape[1] / rollout_s
            stats.payload.step_time_ms = rollout_s * 1000.0 / steps
        return stats

    def _emit_batch_end(self, batch_idx: int, stats: UpdateResult, episodes_done: int,
                        accs: list[float], rewards: list[float]) -> None:
        self.sink.emit(emit.ppo_update(stats, update_index=self.updates, batch_idx=batch_idx))
        for ev in emit.anomalies(stats, batch_idx=batch_idx):
            self.sink.emit(ev)
        avg_reward = sum(rewards) / len(rewards)
        self.trends.add(avg_reward)
        rolling = self.trends.rolling_mean_accuracy(sum(accs) / len(accs))
        self.sink.emit(emit.batch_epoch_completed(
            batch_idx=batch_idx, total_episodes=self.n_batches * self.n_envs_total,
            episodes_completed=episodes_done, env_accuracies=accs, env_rewards=rewards,
            rolling_accuracy=rolling))
        change = self.trends.change()
        if change is not None:
            event_type, slope = change
            self.sink.emit(emit.trend(event_type, metric="avg_reward", slope=slope,
                                      window=self.trends.window, current=avg_reward,
                                      batch_idx=batch_idx))


__all__ = ["BatchReport", "EventSink", "HEADS", "HOST_WIDTH", "TrainResult", "Trainer"]
