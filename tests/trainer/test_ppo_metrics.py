"""Exact tests of the PPO math and the seed plan 004 Phase 3 metric functions."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from esper.telemetry.v1 import telemetry_pb2 as tpb
from trainer_svc.ppo import (
    MinibatchMeans,
    collect_cuda_memory_metrics,
    compute_directional_clip_fraction,
    compute_gae,
    compute_gradient_cv,
    explained_variance,
    grad_norm,
    layer_health,
)

torch.set_num_threads(1)


def test_directional_clip_fraction_seed_example() -> None:
    ratio = torch.tensor([0.5, 0.9, 1.0, 1.1, 1.5, 2.0])
    clip_pos, clip_neg = compute_directional_clip_fraction(ratio, 0.2)
    assert clip_pos == pytest.approx(2 / 6, abs=1e-6)
    assert clip_neg == pytest.approx(1 / 6, abs=1e-6)


def test_directional_clip_fraction_boundaries_are_not_clipped() -> None:
    ratio = torch.tensor([0.8, 1.2, 1.0])  # exactly at 1 -/+ eps: not beyond it
    assert compute_directional_clip_fraction(ratio, 0.25) == (0.0, 0.0)


def test_gradient_cv_known_value() -> None:
    # head norms [1, 2, 3]: sample std 1, mean 2 -> CV 0.5
    assert compute_gradient_cv([1.0, 2.0, 3.0]) == pytest.approx(0.5)
    assert compute_gradient_cv([0.7, 0.7, 0.7]) == pytest.approx(0.0, abs=1e-12)  # all the same


def test_gradient_cv_is_at_most_root_n_when_one_head_gets_everything() -> None:
    for n in (2, 8):
        assert compute_gradient_cv([5.0] + [0.0] * (n - 1)) == pytest.approx(math.sqrt(n))


def test_gradient_cv_of_a_real_policy_backward_is_within_its_bounds() -> None:
    from trainer_svc.policy import TamiyoPolicy, head_parameters

    torch.manual_seed(0)
    policy = TamiyoPolicy(obs_dim=16)
    logits, value = policy(torch.randn(4, 16))
    (logits.clamp(min=-10).logsumexp(-1).sum() + value.sum()).backward()
    norms = [grad_norm(ps) for ps in head_parameters(policy).values()]
    cv = compute_gradient_cv(norms)
    assert cv is not None and 0.0 < cv <= math.sqrt(len(norms))


def test_gradient_cv_absent_when_nothing_can_be_measured() -> None:
    assert compute_gradient_cv([]) is None
    assert compute_gradient_cv([1.0]) is None  # one head: no spread to measure
    assert compute_gradient_cv([0.0, 0.0, 0.0]) is None  # no gradient reached any head
    assert compute_gradient_cv([1.0, math.nan]) is None  # a NaN is not a measurement
    assert compute_gradient_cv([1.0, math.inf]) is None


def test_cuda_memory_absent_on_cpu() -> None:
    payload = tpb.PPOUpdatePayload()
    assert collect_cuda_memory_metrics(torch.device("cpu"), into=payload) is False
    assert not payload.ListFields()  # not measured: every CUDA field stays absent


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_memory_has_all_four_fields_on_cuda() -> None:
    device = torch.device("cuda")
    _ = torch.ones(1024, device=device)
    m = tpb.PPOUpdatePayload()
    assert collect_cuda_memory_metrics(device, into=m)
    assert {f.name for f, _ in m.ListFields()} == {
        "cuda_memory_allocated_gb", "cuda_memory_reserved_gb", "cuda_memory_peak_gb",
        "cuda_memory_fragmentation"}
    assert m.cuda_memory_peak_gb >= 0.0 and 0.0 <= m.cuda_memory_fragmentation <= 1.0


def test_gae_numeric_example() -> None:
    # One env, 3 steps, episode ends at the last step; gamma 0.9, lambda 0.8.
    rewards = torch.tensor([[1.0], [0.0], [2.0]])
    values = torch.tensor([[0.5], [1.0], [1.5]])
    dones = torch.tensor([[0.0], [0.0], [1.0]])
    adv, ret = compute_gae(rewards, values, dones, torch.tensor([9.0]), gamma=0.9, lam=0.8)
    # deltas: d2 = 2 - 1.5 = 0.5 (no bootstrap past the end)
    #         d1 = 0 + 0.9*1.5 - 1.0 = 0.35;  d0 = 1 + 0.9*1.0 - 0.5 = 1.4
    # A2 = 0.5; A1 = 0.35 + 0.72*0.5 = 0.71; A0 = 1.4 + 0.72*0.71 = 1.9112
    assert adv.squeeze(1).tolist() == pytest.approx([1.9112, 0.71, 0.5])
    assert ret.squeeze(1).tolist() == pytest.approx([2.4112, 1.71, 2.0])


def test_gae_bootstraps_when_not_done() -> None:
    adv, _ = compute_gae(torch.tensor([[0.0]]), torch.tensor([[0.0]]), torch.tensor([[0.0]]),
                         torch.tensor([1.0]), gamma=0.5, lam=1.0)
    assert adv.item() == pytest.approx(0.5)


def test_explained_variance() -> None:
    returns = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert explained_variance(returns, returns) == pytest.approx(1.0)
    assert explained_variance(torch.full((4,), 2.5), returns) == pytest.approx(0.0)
    assert explained_variance(returns, torch.ones(4)) == 0.0  # constant returns: defined as 0


def test_grad_norm_and_layer_health() -> None:
    m = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    for p in m.parameters():
        p.grad = torch.zeros_like(p)
    m[0].weight.grad = torch.tensor([[3.0, 0.0], [0.0, 4.0]])
    m[1].bias.grad = torch.tensor([1e3, 0.0])
    assert grad_norm(list(m[0].parameters())) == pytest.approx(5.0)
    assert layer_health(m) == (2, 1, 4)  # dead: m0.bias, m1.weight; exploding: m1.bias


def test_minibatch_means_write_payload_fields_by_their_proto_names() -> None:
    means = MinibatchMeans()
    means.add(policy_loss=1.0, kl_divergence=0.02)
    means.add(policy_loss=3.0, kl_divergence=0.04)
    payload = tpb.PPOUpdatePayload()
    means.write(payload)
    assert payload.policy_loss == pytest.approx(2.0)
    assert payload.kl_divergence == pytest.approx(0.03)
    typo = MinibatchMeans()
    typo.add(policy_los=1.0)
    with pytest.raises(AttributeError):  # a name that is not a payload field fails loudly
        typo.write(tpb.PPOUpdatePayload())
