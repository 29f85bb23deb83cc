"""PPO for Tamiyo: GAE, the clipped update, and the metrics computed beside each loss.

CleanRL-style: `b_` tensors hold the whole batch (T epochs x N envs, flattened), `mb_`
tensors one minibatch. The metrics are written straight into the telemetry payload
(`esper.telemetry.v1.PPOUpdatePayload`), each where it is computed: means over every
minibatch of the update (losses, entropies, KL, clip fractions), except: grad norms (total,
pre-clip, per head), dead/exploding layers and the sampled gradient CV are last-minibatch
values; ratio_min / ratio_max are extremes over the whole update; value/advantage stats are
over the batch.

A minibatch whose loss or gradients are not finite takes no optimizer step; it is counted
(nonfinite_loss_count / nonfinite_grad_count). Its forward metrics (losses, entropies, KL,
clip fractions) still count in the means when they are finite themselves; gradient metrics
come from minibatches that stepped only. A NaN never reaches the telemetry as a number.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_common.health_rules import LAYER_DEAD_GRAD_NORM, LAYER_EXPLODING_GRAD_NORM
from trainer_svc.actions import HEAD_NAMES, HEADS
from trainer_svc.policy import TamiyoPolicy, head_parameters

#: Below this |mean| the gradient CV is reported as 0.0 (the ratio is meaningless).
CV_MEAN_EPS = 1e-10


# -- metric functions (seed plan 004, Phase 3) ---------------------------------------------
def compute_directional_clip_fraction(ratio: torch.Tensor, clip_ratio: float
                                      ) -> tuple[float, float]:
    """(fraction with r > 1+eps, fraction with r < 1-eps): which way clipping bites."""
    ratio_minus_one = ratio.detach() - 1.0
    clip_pos = (ratio_minus_one > clip_ratio).float().mean().item()
    clip_neg = (ratio_minus_one < -clip_ratio).float().mean().item()
    return clip_pos, clip_neg


def compute_gradient_cv(head_norms: Sequence[float]) -> float | None:
    """Coefficient of variation (sample std / |mean|) across the action heads' gradient
    norms: how unevenly one step's gradient reaches the heads. 0 when every head gets the
    same; at most sqrt(n) when one head gets it all and the others none.

    The in-process original computes it this way too, so the field means the same from
    this trainer and from an original run mapped by esper_client.bridge (recorded values
    ~0.6-0.7). Pooling every gradient element instead reads 15-700 on healthy runs (their
    mean is near zero), where no band can mean anything. None when nothing can be
    measured: fewer than two heads, a non-finite norm, or no gradient at all.
    """
    n = len(head_norms)
    if n < 2 or not all(map(math.isfinite, head_norms)):
        return None
    mean = math.fsum(head_norms) / n
    if mean < CV_MEAN_EPS:  # norms are >= 0: every head got (next to) nothing
        return None
    var = math.fsum((x - mean) ** 2 for x in head_norms) / (n - 1)
    return math.sqrt(var) / mean


def collect_cuda_memory_metrics(device: torch.device, into: tpb.PPOUpdatePayload) -> bool:
    """Write CUDA memory of `device` in GB into `into`: allocated, reserved, peak and
    fragmentation = 1 - allocated/reserved (0.0 when nothing is reserved).

    On CPU nothing is written (not measured: the fields stay absent) and False is returned.
    """
    if device.type != "cuda" or not torch.cuda.is_available():
        return False
    into.cuda_memory_allocated_gb = torch.cuda.memory_allocated(device) / 1e9
    into.cuda_memory_reserved_gb = reserved = torch.cuda.memory_reserved(device) / 1e9
    into.cuda_memory_peak_gb = torch.cuda.max_memory_allocated(device) / 1e9
    into.cuda_memory_fragmentation = (
        1.0 - into.cuda_memory_allocated_gb / reserved if reserved > 0 else 0.0)
    return True


def explained_variance(values: torch.Tensor, returns: torch.Tensor) -> float:
    """1 - Var(returns - values) / Var(returns); NaN-free: 0.0 when returns are constant."""
    var_y = returns.var().item()
    if var_y <= 0 or not math.isfinite(var_y):
        return 0.0
    return 1.0 - (returns - values).var().item() / var_y


def grad_norm(params: list[nn.Parameter]) -> float:
    """L2 norm of the gradients of `params` (0.0 if none have gradients)."""
    grads = [p.grad.detach() for p in params if p.grad is not None]
    if not grads:
        return 0.0
    return float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g)
                                                       for g in grads])))


def layer_health(model: nn.Module) -> tuple[int, int, int]:
    """(dead, exploding, total) over parameter tensors: grad norm < 1e-8 or > 1e2."""
    norms = [p.grad.detach().norm().item() for p in model.parameters() if p.grad is not None]
    dead = sum(n < LAYER_DEAD_GRAD_NORM for n in norms)
    exploding = sum(n > LAYER_EXPLODING_GRAD_NORM or not math.isfinite(n) for n in norms)
    return dead, exploding, len(norms)


def compute_gae(rewards: torch.Tensor, values: torch.Tensor, dones: torch.Tensor,
                last_value: torch.Tensor, gamma: float, lam: float
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over [T, N] tensors.

    dones[t] = 1 when step t ended its episode (no bootstrap past it). Returns
    (advantages, returns = advantages + values).
    """
    steps = rewards.shape[0]
    advantages = torch.zeros_like(rewards)
    last_gae = torch.zeros_like(last_value)
    for t in reversed(range(steps)):
        next_value = last_value if t == steps - 1 else values[t + 1]
        not_done = 1.0 - dones[t]
        delta = rewards[t] + gamma * next_value * not_done - values[t]
        last_gae = delta + gamma * lam * not_done * last_gae
        advantages[t] = last_gae
    return advantages, advantages + values


# -- rollout and update --------------------------------------------------------------------
@dataclass
class Rollout:
    """One batch of experience, [T, N, ...] tensors."""

    obs: torch.Tensor
    masks: torch.Tensor  # [T, N, n_heads, MAX_ACTIONS] bool, as sampled
    actions: torch.Tensor
    log_probs: torch.Tensor
    values: torch.Tensor
    rewards: torch.Tensor
    dones: torch.Tensor


@dataclass
class PPOConfig:
    clip_ratio: float
    entropy_coef: float
    value_coef: float
    max_grad_norm: float
    ppo_epochs: int
    n_minibatches: int
    gamma: float
    gae_lambda: float
    target_kl: float | None
    lr: float


@dataclass
class UpdateResult:
    """One update: its metrics as the telemetry payload itself (update_index, fps and
    step_time_ms are the caller's to set)."""

    payload: tpb.PPOUpdatePayload


GradHook = Callable[[nn.Module], None]


class MinibatchMeans:
    """Per-minibatch forward metrics, summed under the PPOUpdatePayload field names they are
    given with, and per-head entropies; written into a payload as means (an unknown name
    fails there, loudly)."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.heads = torch.zeros(len(HEAD_NAMES), dtype=torch.float64)
        self.n = 0

    def add(self, head_entropy: torch.Tensor | None = None, **values: float) -> bool:
        """Count one minibatch; False (and nothing counted) when a value is not finite."""
        if not all(map(math.isfinite, values.values())) or (
                head_entropy is not None and not torch.isfinite(head_entropy).all()):
            return False
        sums = self.sums
        for name, value in values.items():
            sums[name] = sums.get(name, 0.0) + value
        if head_entropy is not None:
            self.heads += head_entropy.double()
        self.n += 1
        return True

    def write(self, payload: tpb.PPOUpdatePayload) -> None:
        """Means into `payload` (0.0 when no minibatch was measured)."""
        n = max(1, self.n)
        for name, total in self.sums.items():
            setattr(payload, name, total / n)

    def head_mean(self, index: int) -> float:
        return float(self.heads[index]) / max(1, self.n)


def _poison_grads(policy: TamiyoPolicy) -> None:
    """Fault injection: make one gradient element NaN (as a bad backward would)."""
    grad = next(p.grad for p in policy.parameters() if p.grad is not None)
    grad.view(-1)[0] = math.nan


def _kill_heads(policy: TamiyoPolicy) -> None:
    """Fault injection: no gradient reaches any action head but op (they stop learning)."""
    for name, params in head_parameters(policy).items():
        if name != "op":
            for p in params:
                if p.grad is not None:
                    p.grad.zero_()


def ppo_update(policy: TamiyoPolicy, optimizer: torch.optim.Optimizer, rollout: Rollout,
               last_value: torch.Tensor, cfg: PPOConfig, *, generator: torch.Generator,
               sample_diagnostics: bool, device: torch.device,
               allreduce_grads: GradHook | None = None,
               allreduce_mean: Callable[[float], float] | None = None,
               inject: str | None = None) -> UpdateResult:
    """One PPO update: GAE, then ppo_epochs x n_minibatches clipped steps.

    `sample_diagnostics` measures the throttled diagnostics (gradient CV, CUDA memory) on this
    update. `allreduce_grads` averages gradients across ranks (distributed);
    `allreduce_mean` averages a scalar (the KL early-stop decision must agree on every
    rank). `inject` breaks every minibatch of this update on purpose, a testing aid for
    health rules: "loss" / "grad" make the loss / a gradient NaN, "dead_heads" zeroes the
    gradients of every head but op.
    """
    t0 = time.perf_counter()
    advantages, returns = compute_gae(rollout.rewards, rollout.values, rollout.dones,
                                      last_value, cfg.gamma, cfg.gae_lambda)
    b_obs = rollout.obs.flatten(0, 1)
    b_masks = rollout.masks.flatten(0, 1)
    b_actions = rollout.actions.flatten(0, 1)
    b_logprobs = rollout.log_probs.flatten()
    b_advantages = advantages.flatten()
    b_returns = returns.flatten()
    b_values = rollout.values.flatten()
    batch_size = b_obs.shape[0]
    mb_size = max(1, batch_size // cfg.n_minibatches)

    result = UpdateResult(tpb.PPOUpdatePayload(lr=cfg.lr, entropy_coef=cfg.entropy_coef))
    st = result.payload
    means = MinibatchMeans()
    head_grad_norm: dict[str, float] = {}
    ratio_min, ratio_max = math.inf, -math.inf
    for epoch in range(cfg.ppo_epochs):
        perm = torch.randperm(batch_size, generator=generator).to(device)
        epoch_kl = 0.0
        n_mb = 0
        for index, start in enumerate(range(0, batch_size - mb_size + 1, mb_size)):
            mb = perm[start:start + mb_size]
            out = policy.score(b_obs[mb], b_masks[mb], b_actions[mb])
            logratio = out.log_prob - b_logprobs[mb]
            ratio = logratio.exp()
            with torch.no_grad():
                approx_kl = ((ratio - 1) - logratio).mean().item()  # k3 estimator
                clip_frac = ((ratio - 1.0).abs() > cfg.clip_ratio).float().mean().item()
                clip_pos, clip_neg = compute_directional_clip_fraction(ratio, cfg.clip_ratio)
                ratio_min = min(ratio_min, ratio.min().item())
                ratio_max = max(ratio_max, ratio.max().item())

            mb_adv = b_advantages[mb]
            if mb_adv.numel() > 1:
                mb_adv = (mb_adv - mb_adv.mean()) / (mb_adv.std() + 1e-8)
            pg_loss = torch.max(-mb_adv * ratio,
                                -mb_adv * ratio.clamp(1 - cfg.clip_ratio, 1 + cfg.clip_ratio)
                                ).mean()
            v_loss = 0.5 * ((out.value - b_returns[mb]) ** 2).mean()
            entropy = out.entropy.sum(dim=1).mean()
            loss = pg_loss - cfg.entropy_coef * entropy + cfg.value_coef * v_loss
            if inject == "loss":
                loss = loss + math.nan
            st.inner_epoch, st.batch = epoch, index
            measured = means.add(
                out.entropy.detach().mean(dim=0).cpu(), policy_loss=pg_loss.item(),
                value_loss=v_loss.item(), entropy=entropy.item(), kl_divergence=approx_kl,
                clip_fraction=clip_frac, clip_fraction_positive=clip_pos,
                clip_fraction_negative=clip_neg)
            if measured:
                epoch_kl += approx_kl
                n_mb += 1

            optimizer.zero_grad(set_to_none=True)
            if not torch.isfinite(loss):
                st.nonfinite_loss_count += 1
                continue
            loss.backward()
            if inject == "grad":
                _poison_grads(policy)
            elif inject == "dead_heads":
                _kill_heads(policy)
            if allreduce_grads is not None:
                allreduce_grads(policy)
            head_norms = {n: grad_norm(ps) for n, ps in head_parameters(policy).items()}
            layers = layer_health(policy)
            cv = compute_gradient_cv(list(head_norms.values())) if sample_diagnostics else None
            pre_clip = float(nn.utils.clip_grad_norm_(policy.parameters(), cfg.max_grad_norm))
            if not math.isfinite(pre_clip):
                st.nonfinite_grad_count += 1
                optimizer.zero_grad(set_to_none=True)
                continue
            head_grad_norm = head_norms
            st.dead_layers, st.exploding_layers, st.total_layers = layers
            if cv is not None:
                st.gradient_cv = cv
            st.pre_clip_grad_norm = pre_clip
            st.grad_norm = grad_norm(list(policy.parameters()))
            optimizer.step()
            st.optimizer_steps += 1
        mean_kl = epoch_kl / max(1, n_mb)
        if allreduce_mean is not None:
            mean_kl = allreduce_mean(mean_kl)
        if cfg.target_kl is not None and mean_kl > cfg.target_kl and epoch < cfg.ppo_epochs - 1:
            st.early_stop_epoch = epoch
            break

    means.write(st)
    st.heads.extend(tpb.HeadMetrics(head=h.head, entropy=means.head_mean(i),
                                    grad_norm=head_grad_norm.get(h.name, 0.0))
                    for i, h in enumerate(HEADS))
    st.explained_variance = explained_variance(b_values, b_returns)
    st.value_mean, st.value_std = b_values.mean().item(), b_values.std().item()
    st.value_min, st.value_max = b_values.min().item(), b_values.max().item()
    st.advantage_mean, st.advantage_std = b_advantages.mean().item(), b_advantages.std().item()
    st.ratio_min = ratio_min if math.isfinite(ratio_min) else 0.0
    st.ratio_max = ratio_max if math.isfinite(ratio_max) else 0.0
    if sample_diagnostics:
        collect_cuda_memory_metrics(device, into=st)
    st.update_time_ms = (time.perf_counter() - t0) * 1000.0
    return result
