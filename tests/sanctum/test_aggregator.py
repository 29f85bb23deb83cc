"""Aggregator: the seeds' verification checklist on snapshots built from real events."""

from __future__ import annotations

import pytest

from esper.sanctum.v1 import sanctum_pb2 as spb
from esper.telemetry.v1 import telemetry_pb2 as tpb
from sanctum_svc.aggregator import Aggregator, RunAggregator
from tests.sanctum.events import RUN, EventFactory

T0 = 1_700_000_000.0


def feed(run: RunAggregator, events: list[tpb.TelemetryEvent], t0: float = T0) -> float:
    """Apply events 0.1 s apart; return the last receive time."""
    t = t0
    for i, event in enumerate(events):
        t = t0 + 0.1 * i
        run.apply(event, t)
    return t


@pytest.fixture
def f() -> EventFactory:
    return EventFactory()


def test_run_config_from_training_started(f: EventFactory) -> None:
    run = RunAggregator(RUN)
    t = feed(run, [f.started()])
    snap = run.snapshot(t)
    assert snap.run_config.seed == 42
    assert snap.run_config.n_episodes == 100
    assert snap.run_config.lr == pytest.approx(3e-4)
    assert list(snap.run_config.slot_ids) == ["r0c0", "r0c1", "r1c0"]
    assert snap.task_name == "cifar10"
    assert snap.status == spb.RUN_STATUS_RUNNING
    assert snap.started_at.ToNanoseconds() == f.make(0).timestamp.ToNanoseconds() - 1_000_000
    assert run.config is not None and run.config.n_envs == 4


def test_ppo_update_per_head_and_scalars(f: EventFactory) -> None:
    run = RunAggregator(RUN)
    t = feed(run, [f.started(), f.ppo(update_index=1)])
    tam = run.snapshot(t).tamiyo
    heads = {h.head: h for h in tam.heads}
    assert heads[tpb.ACTION_HEAD_SLOT].entropy == pytest.approx(0.7)
    assert heads[tpb.ACTION_HEAD_BLUEPRINT].entropy == pytest.approx(1.9)
    assert heads[tpb.ACTION_HEAD_BLUEPRINT].grad_norm == pytest.approx(0.4)
    assert tam.inner_epoch == 3 and tam.batch == 7
    assert tam.policy_loss == pytest.approx(-0.02)
    assert tam.pre_clip_grad_norm == pytest.approx(1.4)
    assert tam.ppo_data_received and tam.updates == 1
    assert not tam.HasField("early_stop_epoch")


def test_batch_aggregates(f: EventFactory) -> None:
    run = RunAggregator(RUN)
    t = feed(run, [f.started(), f.epoch(0, reward=2.0), f.batch(1, avg_reward=1.5, done=4)])
    snap = run.snapshot(t)
    assert snap.batch_avg_reward == pytest.approx(1.5)
    assert snap.batch_total_episodes == 100
    assert snap.episodes_completed == 4 and snap.current_batch == 1
    assert snap.envs[0].cumulative_reward == 0.0  # reset at the commit barrier
    assert not snap.HasField("episodes_per_second")  # one batch: not measurable yet


def test_aggregator_runs_and_latest(f: EventFactory) -> None:
    agg = Aggregator()
    other = EventFactory(run_id="run-2")
    agg.get_or_create(RUN).apply(f.started(), T0)
    agg.get_or_create("run-2").apply(other.started(), T0 + 1)
    assert agg.latest_run_id() == "run-2"
    agg.get_or_create(RUN).apply(f.epoch(0), T0 + 2)
    assert agg.latest_run_id() == RUN
    assert {r.run_id for r in agg.runs()} == {RUN, "run-2"}
    assert agg.get("nope") is None
    assert Aggregator().latest_run_id() is None
