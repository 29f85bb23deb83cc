"""A seed's counterfactual contribution in the telemetry: on SEED_PRUNED / SEED_FOSSILIZED
when measured (absent otherwise), and on the slot's seed telemetry while it stays decided."""

from __future__ import annotations

import pytest

from esper.telemetry.v1 import telemetry_pb2 as tpb
from tests.trainer.test_env import act, blended_seed, make_env
from trainer_svc import emit
from trainer_svc.task import make_task

OP = tpb.LifecycleOp
S = tpb.SeedStage


@pytest.fixture(scope="module")
def task():
    return make_task(0, n_train=256, n_val=128)


def _events(env, res) -> list[tpb.TelemetryEvent]:
    return [emit.lifecycle(r, env_id=0, epoch=env.epoch, episode=0, batch=0)
            for r in res.records]


def _slot_seed(env, res, slot: int = 0) -> tpb.SeedTelemetry:
    return emit.epoch_completed(env, res, episode=0, batch=0).epoch_completed.seeds[slot]


def test_pruned_blended_seed_carries_its_counterfactual_until_dormant(task) -> None:
    env = make_env(task)
    blended_seed(env, bp="mlp")
    expected = env.counterfactual(env.slots[0])
    assert expected is not None
    res = env.step(act(OP.LIFECYCLE_OP_PRUNE))
    pruned = [e.seed_pruned for e in _events(env, res) if e.HasField("seed_pruned")]
    assert len(pruned) == 1 and pruned[0].HasField("counterfactual")
    assert pruned[0].counterfactual == pytest.approx(expected)
    seen = []
    for _ in range(3):
        seed = _slot_seed(env, res)
        seen.append((seed.stage, seed.HasField("counterfactual")))
        res = env.step(act(OP.LIFECYCLE_OP_WAIT))
    # (the prune's own epoch already ticked PRUNED -> EMBARGOED)
    assert seen == [(S.SEED_STAGE_EMBARGOED, True), (S.SEED_STAGE_RESETTING, True),
                    (S.SEED_STAGE_DORMANT, False)]


def test_incubating_prune_has_no_counterfactual(task) -> None:
    env = make_env(task)
    env.step(act(OP.LIFECYCLE_OP_GERMINATE, bp="norm"))
    res = env.step(act(OP.LIFECYCLE_OP_PRUNE))
    pruned = [e.seed_pruned for e in _events(env, res) if e.HasField("seed_pruned")]
    assert len(pruned) == 1 and not pruned[0].HasField("counterfactual")
    assert not _slot_seed(env, res).HasField("counterfactual")


def test_fossilized_seed_keeps_its_counterfactual(task) -> None:
    env = make_env(task)
    blended_seed(env, bp="lora")
    expected = env.counterfactual(env.slots[0])
    res = env.step(act(OP.LIFECYCLE_OP_FOSSILIZE))
    fossilized = [e.seed_fossilized for e in _events(env, res)
                  if e.HasField("seed_fossilized")]
    assert len(fossilized) == 1 and fossilized[0].counterfactual == pytest.approx(expected)
    res = env.step(act(OP.LIFECYCLE_OP_WAIT))
    seed = _slot_seed(env, res)
    assert seed.stage == S.SEED_STAGE_FOSSILIZED
    assert seed.counterfactual == pytest.approx(expected)


def test_a_live_seed_reports_no_counterfactual(task) -> None:
    env = make_env(task)
    blended_seed(env, bp="lora")
    res = env.step(act(OP.LIFECYCLE_OP_WAIT))
    assert not _slot_seed(env, res).HasField("counterfactual")
