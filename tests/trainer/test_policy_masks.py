"""The 8 action heads: conditional masks, relevance, sampling and rescoring by the policy."""

from __future__ import annotations

import math

import pytest
import torch

from esper.telemetry.v1 import telemetry_pb2 as tpb
from tests.trainer.test_env import act, blended_seed, make_env, op_index
from trainer_svc.actions import (
    ALPHA_SPEEDS,
    ALPHA_TARGETS,
    HEAD_NAMES,
    HEADS,
    MAX_ACTIONS,
    OPS,
    RELEVANT,
    Action,
    valid_bits,
)
from trainer_svc.env import OBS_DIM, VecEnv
from trainer_svc.masks import head_mask
from trainer_svc.policy import TamiyoPolicy, sample_heads
from trainer_svc.task import make_task

torch.set_num_threads(1)
OP = tpb.LifecycleOp
AH = tpb.ActionHead


@pytest.fixture(scope="module")
def task():
    return make_task(0, n_train=256, n_val=128)


def test_the_original_controllers_eight_heads() -> None:
    assert [h.head for h in HEADS] == [
        AH.ACTION_HEAD_OP, AH.ACTION_HEAD_SLOT, AH.ACTION_HEAD_BLUEPRINT, AH.ACTION_HEAD_STYLE,
        AH.ACTION_HEAD_TEMPO, AH.ACTION_HEAD_ALPHA_TARGET, AH.ACTION_HEAD_ALPHA_SPEED,
        AH.ACTION_HEAD_ALPHA_CURVE]
    assert all(h.n_actions >= 2 for h in HEADS)
    assert set(RELEVANT) == set(OPS) and all("op" in heads for heads in RELEVANT.values())
    assert RELEVANT[OP.LIFECYCLE_OP_WAIT] == {"op"}
    assert {"style", "tempo", "blueprint"} <= RELEVANT[OP.LIFECYCLE_OP_GERMINATE]
    assert {"alpha_speed", "alpha_curve"} <= RELEVANT[OP.LIFECYCLE_OP_PRUNE]


def _chosen(op: int, slot: int, **heads: int) -> dict[str, torch.Tensor]:
    return {"op": torch.tensor([op_index(op)]), "slot": torch.tensor([slot]),
            **{k: torch.tensor([v]) for k, v in heads.items()}}


def test_masks_follow_the_op_and_the_slot_state(task) -> None:
    env = make_env(task)
    blended_seed(env, slot=0, bp="mlp")  # HOLDING at alpha 1.0 in r0c0
    env.step(act(OP.LIFECYCLE_OP_GERMINATE, slot=1, bp="norm"))  # incubating in r0c1
    m = env.mask_inputs()
    set_on_0 = _chosen(OP.LIFECYCLE_OP_SET_ALPHA_TARGET, 0)
    # SET_ALPHA_TARGET must change the target: 1.0 (the current one) is masked out
    assert head_mask("alpha_target", m, set_on_0).tolist() == [[True, True, False]]
    assert head_mask("alpha_speed", m, set_on_0).all()
    # pruning a blended seed may fade it at any speed; an incubating one only INSTANT
    assert head_mask("alpha_speed", m, _chosen(OP.LIFECYCLE_OP_PRUNE, 0)).all()
    assert head_mask("alpha_speed", m, _chosen(OP.LIFECYCLE_OP_PRUNE, 1)).tolist() == [
        [True] + [False] * (len(ALPHA_SPEEDS) - 1)]
    # an INSTANT move has no shape: only LINEAR; any other speed allows every curve
    instant = _chosen(OP.LIFECYCLE_OP_PRUNE, 0, alpha_speed=0)
    assert head_mask("alpha_curve", m, instant).tolist() == [[True, False, False]]
    assert head_mask("alpha_curve", m, _chosen(OP.LIFECYCLE_OP_PRUNE, 0, alpha_speed=2)).all()
    # heads the op does not use are all-valid (and carry no log-prob)
    wait = _chosen(OP.LIFECYCLE_OP_WAIT, 0, alpha_speed=0)
    for name in HEAD_NAMES[2:]:
        assert head_mask(name, m, wait).all()
    germinate = _chosen(OP.LIFECYCLE_OP_GERMINATE, 2)
    assert head_mask("blueprint", m, germinate).tolist() == [env.blueprint_mask().tolist()]
    assert head_mask("alpha_target", m, germinate).all()  # any target for a new seed


def test_valid_bits() -> None:
    assert valid_bits([True, False, True]) == 0b101 and valid_bits([False, False]) == 0


def test_policy_respects_every_mask_and_rescoring_matches(task) -> None:
    vec = VecEnv(3, task, seed=1, max_epochs=8, param_budget=100, budget_cost=0.4,
                 reward_scale=10.0, device=torch.device("cpu"))
    vec.reset()
    torch.manual_seed(0)
    policy = TamiyoPolicy(OBS_DIM)
    g = torch.Generator().manual_seed(0)
    for _ in range(8):
        obs = vec.observe()
        assert obs.shape == (3, OBS_DIM) and torch.isfinite(obs).all()
        inputs = vec.masks()
        out = policy.sample(obs, inputs, generator=g)
        for i, row in enumerate(out.actions.tolist()):
            chosen = {name: torch.tensor([a]) for name, a in zip(HEAD_NAMES, row, strict=True)}
            one = type(inputs)(**{k: v[i:i + 1] for k, v in vars(inputs).items()})
            for h, head in enumerate(HEADS):
                mask = head_mask(head.name, one, chosen)[0]
                assert mask[row[h]], (head.name, row)
                assert out.masks[i, h, :head.n_actions].tolist() == mask.tolist()
                assert not out.masks[i, h, head.n_actions:].any()  # padding is never valid
            relevant = RELEVANT[OPS[row[0]]]
            assert out.relevance[i].tolist() == [float(n in relevant) for n in HEAD_NAMES]
        for h, head in enumerate(HEADS):
            assert (out.entropy[:, h] <= math.log(head.n_actions) + 1e-5).all()
        vec.step([Action(*r) for r in out.actions.tolist()])
    rescored = policy.score(obs, out.masks, out.actions)
    assert torch.allclose(rescored.log_prob, out.log_prob)
    # the joint log-prob sums the relevant heads only
    chosen_lp = torch.log(out.probs.gather(2, out.actions.unsqueeze(-1)).squeeze(-1))
    assert torch.allclose((chosen_lp * out.relevance).sum(1), out.log_prob, atol=1e-5)


def test_masked_actions_are_never_sampled_over_many_draws(task) -> None:
    env = make_env(task)
    blended_seed(env, slot=0, bp="mlp")
    inputs = env.mask_inputs()
    logits = torch.zeros(4000, len(HEADS), MAX_ACTIONS)
    batch = type(inputs)(**{k: v.expand(4000, *v.shape[1:]) for k, v in vars(inputs).items()})
    actions, _ = sample_heads(logits, batch, torch.Generator().manual_seed(1))
    op = torch.tensor([OPS[i] for i in actions[:, 0].tolist()])
    set_rows = op == OP.LIFECYCLE_OP_SET_ALPHA_TARGET
    assert set_rows.any()
    assert (actions[set_rows, 5] != ALPHA_TARGETS.index(1.0)).all()
    instant = actions[:, 6] == 0
    relevant_curve = (op == OP.LIFECYCLE_OP_PRUNE) | set_rows
    assert (actions[instant & relevant_curve, 7] == 0).all()
    assert (actions[~instant & relevant_curve, 7] != 0).any()
