"""The environment: seed lifecycle, masks, the seed's real effect on the host, the policy."""

from __future__ import annotations

import math

import pytest
import torch

from esper.telemetry.v1 import telemetry_pb2 as tpb
from trainer_svc.actions import HEADS, OPS, Action
from trainer_svc.blueprints import BLUEPRINT_IDS, build_seed, param_count
from trainer_svc.env import HOST_WIDTH, OBS_DIM, MorphoEnv, VecEnv
from trainer_svc.lifecycle import Slot
from trainer_svc.policy import TamiyoPolicy
from trainer_svc.task import make_task

torch.set_num_threads(1)
S = tpb.SeedStage
OP = tpb.LifecycleOp


def op_index(op: int) -> int:
    return OPS.index(op)


@pytest.fixture(scope="module")
def task():
    return make_task(0, n_train=256, n_val=128)


def make_env(task, budget: int = 6000) -> MorphoEnv:
    env = MorphoEnv(0, task, seed=0, max_epochs=20, param_budget=budget, budget_cost=0.4,
                    reward_scale=10.0, device=torch.device("cpu"))
    env.reset()
    return env


def act(op: int, slot: int = 0, bp: str = "mlp_small", tempo: int = 0, alpha: int = 2) -> Action:
    return Action(op_index(op), slot, BLUEPRINT_IDS.index(bp), tempo, alpha)


def test_blueprints_have_clearly_different_sizes() -> None:
    sizes = [param_count(build_seed(bp, HOST_WIDTH)) for bp in BLUEPRINT_IDS]
    assert len(BLUEPRINT_IDS) >= 4 and sizes == sorted(sizes) and len(set(sizes)) == len(sizes)
    assert sizes[-1] > 10 * sizes[0]
    with pytest.raises(ValueError, match="unknown blueprint"):
        build_seed("nope", 4)


def test_full_lifecycle_to_fossilized(task) -> None:
    env = make_env(task)
    kinds: list[tuple[str, int]] = []
    # germinate (tick -> TRAINING), train an epoch, advance (alpha 0.5 after the tick),
    # alpha reaches 1.0 (-> HOLDING), fossilize.
    for a in [act(OP.LIFECYCLE_OP_GERMINATE, bp="lora", tempo=1), act(OP.LIFECYCLE_OP_WAIT),
              act(OP.LIFECYCLE_OP_ADVANCE), act(OP.LIFECYCLE_OP_WAIT),
              act(OP.LIFECYCLE_OP_FOSSILIZE)]:
        res = env.step(a)
        kinds += [(r.kind, r.to_stage) for r in res.records]
    stages = [to for kind, to in kinds if kind == "stage_changed"]
    assert stages == [S.SEED_STAGE_GERMINATED, S.SEED_STAGE_TRAINING, S.SEED_STAGE_BLENDING,
                      S.SEED_STAGE_HOLDING, S.SEED_STAGE_FOSSILIZED]
    assert ("germinated", 0) in kinds and ("fossilized", 0) in kinds
    slot = env.slots[0]
    assert slot.stage == S.SEED_STAGE_FOSSILIZED and slot.alpha == pytest.approx(1.0)
    assert env.params_in_use() == param_count(build_seed("lora", HOST_WIDTH))


def test_prune_then_cooldown_back_to_dormant(task) -> None:
    env = make_env(task)
    env.step(act(OP.LIFECYCLE_OP_GERMINATE, slot=1, bp="norm"))
    res = env.step(act(OP.LIFECYCLE_OP_PRUNE, slot=1))
    pruned = [r for r in res.records if r.kind == "pruned"]
    assert pruned and pruned[0].blueprint_id == "norm"
    assert pruned[0].from_stage == S.SEED_STAGE_TRAINING
    seen = [env.slots[1].stage]
    for _ in range(3):
        env.step(act(OP.LIFECYCLE_OP_WAIT))
        seen.append(env.slots[1].stage)
    assert seen == [S.SEED_STAGE_EMBARGOED, S.SEED_STAGE_RESETTING, S.SEED_STAGE_DORMANT,
                    S.SEED_STAGE_DORMANT]
    assert env.params_in_use() == 0 and env.slots[1].module is None


def test_advance_gate_fails_before_training_long_enough() -> None:
    slot, out = Slot("r0c0"), []
    slot.germinate("norm", "s1", build_seed("norm", 4), 8, 1.0, 1, 0.5, out)
    slot.tick(0.5, out)  # -> TRAINING
    out.clear()
    slot.advance(out)  # 0 epochs in TRAINING: gate G2 refuses
    assert [(r.kind, r.gate, r.passed) for r in out] == [("gate", "G2", False)]
    assert slot.stage == S.SEED_STAGE_TRAINING


def test_masks_forbid_invalid_ops(task) -> None:
    env = make_env(task, budget=100)  # only norm (32) and lora (64) fit
    m = env.slot_masks()
    assert m[op_index(OP.LIFECYCLE_OP_GERMINATE)].all()
    for op in (OP.LIFECYCLE_OP_FOSSILIZE, OP.LIFECYCLE_OP_PRUNE, OP.LIFECYCLE_OP_ADVANCE,
               OP.LIFECYCLE_OP_SET_ALPHA_TARGET):
        assert not m[op_index(op)].any()
    assert env.blueprint_mask().tolist() == [True, True, False, False]
    env.step(act(OP.LIFECYCLE_OP_GERMINATE, slot=2, bp="lora"))
    m = env.slot_masks()
    assert m[op_index(OP.LIFECYCLE_OP_GERMINATE)].tolist() == [True, True, False]  # occupied
    assert m[op_index(OP.LIFECYCLE_OP_PRUNE)].tolist() == [False, False, True]
    assert not m[op_index(OP.LIFECYCLE_OP_FOSSILIZE)].any()  # TRAINING is not HOLDING
    assert env.blueprint_mask().tolist() == [True, False, False, False]  # 64 of 100 used


def test_seed_has_real_effect_only_when_blended(task) -> None:
    env = make_env(task)
    x = env.x_val[:16]
    base = env.host(x, env.slots).detach()
    env.apply(act(OP.LIFECYCLE_OP_GERMINATE, bp="mlp"))
    incubating = env.host(x, env.slots)
    assert torch.allclose(incubating, base)  # incubating: no forward effect...
    incubating.sum().backward()
    assert env.seed_grad_norm(env.slots[0]) > 0  # ...but the seed learns
    slot = env.slots[0]
    slot.stage, slot.alpha = S.SEED_STAGE_BLENDING, 0.5
    assert not torch.allclose(env.host(x, env.slots), base)


def test_observation_shape_and_policy_respects_masks(task) -> None:
    vec = VecEnv(3, task, seed=1, max_epochs=5, param_budget=100, budget_cost=0.4,
                 reward_scale=10.0, device=torch.device("cpu"))
    vec.reset()
    torch.manual_seed(0)
    policy = TamiyoPolicy(OBS_DIM)
    g = torch.Generator().manual_seed(0)
    for _ in range(5):
        obs = vec.observe()
        assert obs.shape == (3, OBS_DIM) and torch.isfinite(obs).all()
        op_mask, slot_masks, bp_mask = vec.masks()
        out = policy.evaluate(obs, op_mask, slot_masks, bp_mask, generator=g)
        for i, row in enumerate(out.actions.tolist()):
            assert op_mask[i, row[0]] and slot_masks[i, row[0], row[1]]
            if OPS[row[0]] == OP.LIFECYCLE_OP_GERMINATE:
                assert bp_mask[i, row[2]]
        for h, head in enumerate(HEADS):
            assert (out.entropy[:, h] <= math.log(head.n_actions) + 1e-5).all()
        vec.step([Action(*r) for r in out.actions.tolist()])
    rescored = policy.evaluate(obs, op_mask, slot_masks, bp_mask, actions=out.actions)
    assert torch.allclose(rescored.log_prob, out.log_prob)
