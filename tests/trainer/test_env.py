"""The environment: seed lifecycle, alpha moves, styles, counterfactuals, slot masks."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

from esper.telemetry.v1 import telemetry_pb2 as tpb
from trainer_svc.actions import (
    ALPHA_CURVES,
    ALPHA_SPEEDS,
    ALPHA_TARGETS,
    BLUEPRINT_IDS,
    OPS,
    STYLES,
    TEMPO_EPOCHS,
    Action,
)
from trainer_svc.blending import AlphaRamp, blend, curve
from trainer_svc.blueprints import build_seed, param_count
from trainer_svc.env import HOST_WIDTH, MorphoEnv
from trainer_svc.lifecycle import Slot
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


def act(op: int, slot: int = 0, bp: str = "mlp_small", tempo: int = 1, alpha: float = 1.0,
        style: str = "ADD", speed: str = "INSTANT", curve: str = "LINEAR") -> Action:
    return Action(op_index(op), slot, BLUEPRINT_IDS.index(bp), STYLES.index(style),
                  TEMPO_EPOCHS.index(tempo), ALPHA_TARGETS.index(alpha),
                  list(ALPHA_SPEEDS).index(speed), ALPHA_CURVES.index(curve))


def blended_seed(env: MorphoEnv, slot: int = 0, bp: str = "lora", **kw: Any) -> None:
    """Germinate, train, advance and ramp (1 epoch) a seed until it is HOLDING at alpha 1."""
    for a in [act(OP.LIFECYCLE_OP_GERMINATE, slot=slot, bp=bp, tempo=1, **kw),
              act(OP.LIFECYCLE_OP_WAIT), act(OP.LIFECYCLE_OP_ADVANCE, slot=slot),
              act(OP.LIFECYCLE_OP_WAIT)]:
        env.step(a)
    assert env.slots[slot].stage == S.SEED_STAGE_HOLDING and env.slots[slot].settled


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
    for a in [act(OP.LIFECYCLE_OP_GERMINATE, bp="lora", tempo=2), act(OP.LIFECYCLE_OP_WAIT),
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
    assert env.fossilized == 1 and slot.counterfactual is not None


def test_prune_then_cooldown_back_to_dormant(task) -> None:
    env = make_env(task)
    env.step(act(OP.LIFECYCLE_OP_GERMINATE, slot=1, bp="norm"))
    res = env.step(act(OP.LIFECYCLE_OP_PRUNE, slot=1))
    pruned = [r for r in res.records if r.kind == "pruned"]
    assert pruned and pruned[0].blueprint_id == "norm"
    assert pruned[0].from_stage == S.SEED_STAGE_TRAINING
    assert pruned[0].counterfactual is None  # incubating: never in the output, not measured
    seen = [env.slots[1].stage]
    for _ in range(3):
        env.step(act(OP.LIFECYCLE_OP_WAIT))
        seen.append(env.slots[1].stage)
    assert seen == [S.SEED_STAGE_EMBARGOED, S.SEED_STAGE_RESETTING, S.SEED_STAGE_DORMANT,
                    S.SEED_STAGE_DORMANT]
    assert env.params_in_use() == 0 and env.slots[1].module is None


def test_advance_gate_fails_before_training_long_enough() -> None:
    slot, out = Slot("r0c0"), []
    slot.germinate("norm", "s1", build_seed("norm", 4), 8, "ADD", 1.0, 1, 0.5, out)
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
    assert env.params_in_use() == 64
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


def test_styles_are_identity_at_alpha_zero_and_differ_when_blended() -> None:
    torch.manual_seed(0)
    h, seed_out = torch.randn(5, 4), torch.randn(5, 4)
    outs = {st: blend(st, h, seed_out, 0.5) for st in STYLES}
    for st in STYLES:
        assert torch.equal(blend(st, h, seed_out, 0.0), h)
    assert torch.allclose(outs["ADD"], h + 0.5 * seed_out)
    assert torch.allclose(outs["MULTIPLY"], h * (1 + 0.5 * torch.tanh(seed_out)))
    assert torch.allclose(outs["GATE"], h + 0.5 * torch.sigmoid(seed_out) * seed_out)
    assert not torch.allclose(outs["ADD"], outs["MULTIPLY"])
    assert not torch.allclose(outs["ADD"], outs["GATE"])


def test_style_changes_what_the_host_computes(task) -> None:
    x = None
    outputs = []
    for st in STYLES:
        env = make_env(task)
        env.step(act(OP.LIFECYCLE_OP_GERMINATE, bp="mlp", style=st))
        slot = env.slots[0]
        slot.stage, slot.alpha = S.SEED_STAGE_BLENDING, 1.0
        x = env.x_val[:32] if x is None else x
        outputs.append(env.host(x, env.slots).detach())
    assert not torch.allclose(outputs[0], outputs[1]) and not torch.allclose(outputs[0], outputs[2])


def test_alpha_curves_and_ramps() -> None:
    for name in ALPHA_CURVES:
        assert curve(name, 0.0) == pytest.approx(0.0) and curve(name, 1.0) == pytest.approx(1.0)
        assert curve(name, 0.5) == pytest.approx(0.5)
    assert curve("LINEAR", 0.25) == pytest.approx(0.25)
    assert curve("COSINE", 0.25) == pytest.approx((1 - math.cos(math.pi / 4)) / 2)
    assert curve("SIGMOID", 0.25) < curve("COSINE", 0.25) < curve("LINEAR", 0.25)
    ramp = AlphaRamp(1.0, 0.0, 4, "COSINE")
    values = [ramp.step() for _ in range(4)]
    assert values == pytest.approx([1 - curve("COSINE", k / 4) for k in (1, 2, 3)] + [0.0])
    assert ramp.finished


def test_set_alpha_target_moves_along_speed_and_curve_and_fossilize_waits(task) -> None:
    env = make_env(task)
    blended_seed(env)
    slot = env.slots[0]
    env.step(act(OP.LIFECYCLE_OP_SET_ALPHA_TARGET, alpha=0.5, speed="SLOW", curve="SIGMOID"))
    seen = [slot.alpha]
    assert not env.slot_masks()[op_index(OP.LIFECYCLE_OP_FOSSILIZE)].any()  # still moving
    for _ in range(3):
        env.step(act(OP.LIFECYCLE_OP_WAIT))
        seen.append(slot.alpha)
    steps = ALPHA_SPEEDS["SLOW"]
    assert seen == pytest.approx([1 - 0.5 * curve("SIGMOID", k / steps) for k in range(1, 5)])
    assert slot.settled and slot.stage == S.SEED_STAGE_HOLDING
    assert env.slot_masks()[op_index(OP.LIFECYCLE_OP_FOSSILIZE)].tolist() == [True, False, False]
    env.step(act(OP.LIFECYCLE_OP_SET_ALPHA_TARGET, alpha=0.75, speed="INSTANT"))
    assert slot.alpha == 0.75 and slot.settled


def test_prune_with_speed_fades_a_blended_seed_out_then_removes_it(task) -> None:
    env = make_env(task)
    blended_seed(env, bp="mlp")
    slot = env.slots[0]
    expected_cf = env.counterfactual(slot)
    assert expected_cf is not None
    res = env.step(act(OP.LIFECYCLE_OP_PRUNE, speed="MEDIUM", curve="LINEAR"))
    assert not [r for r in res.records if r.kind == "pruned"] and slot.fading
    assert slot.alpha == pytest.approx(0.5) and slot.stage == S.SEED_STAGE_HOLDING
    assert not env.slot_masks()[:, 0][1:].any()  # fading: the slot takes only WAIT
    res = env.step(act(OP.LIFECYCLE_OP_WAIT))
    pruned = [r for r in res.records if r.kind == "pruned"]
    assert pruned and pruned[0].from_stage == S.SEED_STAGE_HOLDING
    assert pruned[0].counterfactual == pytest.approx(expected_cf)
    assert slot.stage == S.SEED_STAGE_PRUNED and slot.module is None and env.pruned == 1
    assert "r0c0" not in env.seed_opts


def test_counterfactual_is_accuracy_with_minus_without_the_seed(task) -> None:
    env = make_env(task)
    blended_seed(env, bp="mlp")
    slot = env.slots[0]
    with_seed, _ = env._evaluate()
    slot.alpha = 0.0
    without, _ = env._evaluate()
    slot.alpha = 1.0
    assert env.counterfactual(slot) == pytest.approx(with_seed - without)
    assert slot.alpha == 1.0  # restored
    env.slots[1].stage = S.SEED_STAGE_DORMANT
    assert env.counterfactual(env.slots[1]) is None
