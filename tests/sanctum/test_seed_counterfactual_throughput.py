"""Aggregator: a pruned/fossilized seed keeps its counterfactual contribution on the slot;
PPO updates carry rollout throughput and non-finite minibatch counts into the snapshot (as
the payload itself)."""

from __future__ import annotations

import pytest

from esper.telemetry.v1 import telemetry_pb2 as tpb
from sanctum_svc.aggregator import RunAggregator
from testkit.events import RUN, Producer
from tests.sanctum.test_aggregator import feed

S = tpb.SeedStage


@pytest.fixture
def f() -> Producer:
    return Producer()


def _germinated(f: Producer, slot: str = "r0c1") -> tpb.TelemetryEvent:
    return f.make(tpb.EVENT_TYPE_SEED_GERMINATED, env_id=1,
                  seed_germinated=tpb.SeedGerminatedPayload(slot_id=slot, blueprint_id="lora",
                                                            seed_id="s1", params=64))


def _seed(run: RunAggregator, t: float, slot: str = "r0c1") -> tpb.SeedTelemetry:
    env = {e.env_id: e for e in run.snapshot(t).envs.envs}[1]
    return env.seeds[slot]


@pytest.mark.parametrize("event_type", [tpb.EVENT_TYPE_SEED_CULLED, tpb.EVENT_TYPE_SEED_PRUNED])
def test_culled_seed_keeps_its_counterfactual_through_the_cooldown(
        f: Producer, event_type: int) -> None:
    run = RunAggregator(RUN)
    culled = f.make(event_type, env_id=1, seed_pruned=tpb.SeedPrunedPayload(
        slot_id="r0c1", blueprint_id="lora", counterfactual=0.0125))
    t = feed(run, [f.started(), _germinated(f), culled])
    seed = _seed(run, t)
    assert seed.stage == S.SEED_STAGE_PRUNED and seed.counterfactual == pytest.approx(0.0125)
    assert "counterfactual +0.013" in run.snapshot(t).event_log.entries[-1].message
    # epoch telemetry from a producer that does not repeat it: the slot keeps it
    for stage in (S.SEED_STAGE_EMBARGOED, S.SEED_STAGE_RESETTING):
        t = feed(run, [f.epoch(1, seeds=[tpb.SeedTelemetry(slot_id="r0c1", stage=stage)])], t + 1)
        seed = _seed(run, t)
        assert seed.stage == stage and seed.counterfactual == pytest.approx(0.0125)
    dormant = tpb.SeedTelemetry(slot_id="r0c1", stage=S.SEED_STAGE_DORMANT)
    t = feed(run, [f.epoch(1, seeds=[dormant])], t + 1)
    assert not _seed(run, t).HasField("counterfactual")  # the slot is empty again


def test_unmeasured_counterfactual_stays_absent(f: Producer) -> None:
    run = RunAggregator(RUN)
    pruned = f.make(tpb.EVENT_TYPE_SEED_PRUNED, env_id=1,
                    seed_pruned=tpb.SeedPrunedPayload(slot_id="r0c1"))
    t = feed(run, [_germinated(f), pruned])
    assert not _seed(run, t).HasField("counterfactual")
    assert "counterfactual" not in run.snapshot(t).event_log.entries[-1].message
    # a new seed in the slot starts without the old one's measurement
    refossil = f.make(tpb.EVENT_TYPE_SEED_FOSSILIZED, env_id=1, seed_fossilized=(
        tpb.SeedFossilizedPayload(slot_id="r0c0", counterfactual=0.5)))
    t = feed(run, [refossil, _germinated(f, "r0c0")], t + 1)
    assert not _seed(run, t, "r0c0").HasField("counterfactual")


def test_fossilized_seed_keeps_its_counterfactual(f: Producer) -> None:
    run = RunAggregator(RUN)
    fossil = f.make(tpb.EVENT_TYPE_SEED_FOSSILIZED, env_id=1, seed_fossilized=(
        tpb.SeedFossilizedPayload(slot_id="r0c1", params_added=64, counterfactual=-0.002)))
    later = tpb.SeedTelemetry(slot_id="r0c1", stage=S.SEED_STAGE_FOSSILIZED, alpha=1.0)
    t = feed(run, [_germinated(f), fossil, f.epoch(1, seeds=[later])])
    seed = _seed(run, t)
    assert seed.stage == S.SEED_STAGE_FOSSILIZED and seed.alpha == 1.0
    assert seed.counterfactual == pytest.approx(-0.002)
    # a producer that reports it per epoch wins over the kept value
    later.counterfactual = 0.004
    t = feed(run, [f.epoch(1, seeds=[later])], t + 1)
    assert _seed(run, t).counterfactual == pytest.approx(0.004)


def test_throughput_and_nonfinite_counts_reach_tamiyo_state(f: Producer) -> None:
    run = RunAggregator(RUN)
    t = feed(run, [f.started(), f.ppo(update_index=1, fps=812.5, step_time_ms=4.92,
                                      optimizer_steps=16)])
    update = run.snapshot(t).tamiyo.groups[0].last_update
    assert update.fps == pytest.approx(812.5)
    assert update.step_time_ms == pytest.approx(4.92)
    assert update.optimizer_steps == 16 and update.nonfinite_loss_count == 0
    t = feed(run, [f.ppo(update_index=2, nonfinite_loss_count=16, nonfinite_grad_count=0)],
             t + 1)
    group = run.snapshot(t).tamiyo.groups[0]
    update = group.last_update
    assert update.nonfinite_loss_count == 16 and update.optimizer_steps == 0
    # throughput is per update: the latest update did not measure it...
    assert not update.HasField("fps") and not update.HasField("step_time_ms")
    # ...and the last measured value stays visible beside it
    assert group.last_measured.fps == pytest.approx(812.5)
