"""Aggregator: the seeds' verification checklist on snapshots built from real events."""

from __future__ import annotations

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_common import presentation
from esper_common.derived import memory_usage_percent
from sanctum_svc.aggregator import Aggregator, RunAggregator
from testkit.events import RUN, Producer

T0 = 1_700_000_000.0


def feed(run: RunAggregator, events: list[tpb.TelemetryEvent], t0: float = T0) -> float:
    """Apply events 0.1 s apart; return the last receive time."""
    t = t0
    for i, event in enumerate(events):
        t = t0 + 0.1 * i
        run.apply(event, t)
    return t


@pytest.fixture
def f() -> Producer:
    return Producer()


def test_run_config_from_training_started(f: Producer) -> None:
    run = RunAggregator(RUN)
    t = feed(run, [f.started()])
    snap = run.snapshot(t)
    cfg = snap.run.config
    assert cfg.seed == 42
    assert cfg.n_episodes == 100
    assert cfg.lr == pytest.approx(3e-4)
    assert list(cfg.slot_ids) == ["r0c0", "r0c1", "r1c0"]
    assert cfg.task == "cifar10"
    assert snap.run.status == spb.RUN_STATUS_RUNNING
    assert snap.run.started_at == Timestamp(seconds=1_700_000_000, nanos=10_000_000)  # producer
    assert run.config is not None and run.config.n_envs == 4


def test_ppo_update_per_head_and_scalars(f: Producer) -> None:
    run = RunAggregator(RUN)
    t = feed(run, [f.started(), f.ppo(update_index=1)])
    group = run.snapshot(t).tamiyo.groups[0]
    update = group.last_update
    heads = {h.head: h for h in update.heads}
    assert heads[tpb.ACTION_HEAD_SLOT].entropy == pytest.approx(0.7)
    assert heads[tpb.ACTION_HEAD_BLUEPRINT].entropy == pytest.approx(1.9)
    assert heads[tpb.ACTION_HEAD_BLUEPRINT].grad_norm == pytest.approx(0.4)
    assert update.inner_epoch == 3 and update.batch == 7
    assert update.policy_loss == pytest.approx(-0.02)
    assert update.pre_clip_grad_norm == pytest.approx(1.4)
    assert group.HasField("last_update") and group.updates == 1
    assert not update.HasField("early_stop_epoch")
    assert update == f.events[-1].ppo_update  # the payload itself, every field


def test_batch_aggregates(f: Producer) -> None:
    run = RunAggregator(RUN)
    t = feed(run, [f.started(), f.epoch(0, reward=2.0), f.batch(1, avg_reward=1.5, done=4)])
    snap = run.snapshot(t)
    batch = snap.run.last_batch
    assert batch.avg_reward == pytest.approx(1.5)
    assert batch.total_episodes == 100
    assert batch.episodes_completed == 4 and batch.batch_idx == 1
    assert snap.envs.envs[0].cumulative_reward == 0.0  # reset at the commit barrier
    assert not snap.run.HasField("episodes_per_second")  # one batch: not measurable yet


def test_aggregator_runs_and_latest(f: Producer) -> None:
    agg = Aggregator()
    other = Producer(run_id="run-2")
    agg.get_or_create(RUN).apply(f.started(), T0)
    agg.get_or_create("run-2").apply(other.started(), T0 + 1)
    assert agg.latest_run_id() == "run-2"
    agg.get_or_create(RUN).apply(f.epoch(0), T0 + 2)
    assert agg.latest_run_id() == RUN
    assert {r.run_id for r in agg.runs()} == {RUN, "run-2"}
    assert agg.get("nope") is None
    assert Aggregator().latest_run_id() is None


def test_compile_status_from_training_started(f: Producer) -> None:
    run = RunAggregator(RUN)
    t = feed(run, [f.started(), f.ppo()])
    cfg = run.snapshot(t).run.config
    assert cfg.compile_enabled is True
    assert cfg.compile_backend == "inductor"
    assert cfg.compile_mode == "reduce-overhead"


def test_nested_gradient_quality_and_cuda_infrastructure(f: Producer) -> None:
    """Seed plan 004 Task 5.1, with the 4.2/8.0 GB example."""
    run = RunAggregator(RUN)
    cuda = {
        "gradient_cv": 0.42,
        "cuda_memory_allocated_gb": 4.2,
        "cuda_memory_reserved_gb": 8.0,
        "cuda_memory_peak_gb": 6.5,
        "cuda_memory_fragmentation": 0.475,
    }
    t = feed(run, [f.ppo(clip_fraction_positive=0.10, clip_fraction_negative=0.05, **cuda)])
    group = run.snapshot(t).tamiyo.groups[0]
    update, measured = group.last_update, group.last_measured
    assert update.clip_fraction_positive == pytest.approx(0.10)
    assert update.clip_fraction_negative == pytest.approx(0.05)
    for source in (update, measured):
        assert source.gradient_cv == pytest.approx(0.42)
        assert source.cuda_memory_allocated_gb == pytest.approx(4.2)
        assert source.cuda_memory_reserved_gb == pytest.approx(8.0)
        assert source.cuda_memory_peak_gb == pytest.approx(6.5)
        assert source.cuda_memory_fragmentation == pytest.approx(0.475)
        assert memory_usage_percent(source) == pytest.approx(52.5)
    assert not measured.policy_loss  # only the optional (sampled) fields are kept there


def test_cuda_and_cv_absent_when_not_measured(f: Producer) -> None:
    run = RunAggregator(RUN)
    t = feed(run, [f.started(), f.ppo()])
    group = run.snapshot(t).tamiyo.groups[0]
    for source in (group.last_update, group.last_measured):
        for name in (
            "cuda_memory_allocated_gb",
            "cuda_memory_reserved_gb",
            "cuda_memory_peak_gb",
            "cuda_memory_fragmentation",
            "gradient_cv",
        ):
            assert not source.HasField(name), name
        assert memory_usage_percent(source) is None
    assert not group.HasField("last_measured")  # nothing was ever measured


def test_gradient_cv_keeps_last_measured_value(f: Producer) -> None:
    run = RunAggregator(RUN)
    t = feed(run, [f.ppo(gradient_cv=0.8), f.ppo(), f.ppo()])
    group = run.snapshot(t).tamiyo.groups[0]
    assert group.last_measured.gradient_cv == pytest.approx(0.8)
    assert not group.last_update.HasField("gradient_cv")  # the latest update did not sample
    t = feed(run, [f.ppo(gradient_cv=2.5)], t + 1)
    assert run.snapshot(t).tamiyo.groups[0].last_measured.gradient_cv == pytest.approx(2.5)


def test_early_stop_epoch_presence_per_update(f: Producer) -> None:
    run = RunAggregator(RUN)
    t = feed(run, [f.ppo(early_stop_epoch=0)])
    update = run.snapshot(t).tamiyo.groups[0].last_update
    assert update.HasField("early_stop_epoch") and update.early_stop_epoch == 0
    t = feed(run, [f.ppo()], t + 1)
    assert not run.snapshot(t).tamiyo.groups[0].last_update.HasField("early_stop_epoch")


def test_heads_replaced_per_update_and_update_count(f: Producer) -> None:
    run = RunAggregator(RUN)
    one_head = [tpb.HeadMetrics(head=tpb.ACTION_HEAD_TEMPO, entropy=0.3, grad_norm=0.1)]
    t = feed(run, [f.ppo(), f.ppo(heads=one_head)])
    group = run.snapshot(t).tamiyo.groups[0]
    assert [h.head for h in group.last_update.heads] == [tpb.ACTION_HEAD_TEMPO]
    assert group.updates == 2  # counted when the payload has no update_index
    t = feed(run, [f.ppo(update_index=10)], t + 1)
    assert run.snapshot(t).tamiyo.groups[0].updates == 10


@pytest.mark.parametrize("event_type", [tpb.EVENT_TYPE_SEED_CULLED, tpb.EVENT_TYPE_SEED_PRUNED])
@pytest.mark.parametrize("payload_blueprint", ["conv_light", ""])
def test_pruned_seed_keeps_blueprint(
    f: Producer, event_type: int, payload_blueprint: str
) -> None:
    """Seed plan 000 Task 4: env.seeds[slot_id].blueprint_id of a culled/pruned seed."""
    run = RunAggregator(RUN)
    germ = f.make(
        tpb.EVENT_TYPE_SEED_GERMINATED,
        env_id=1,
        seed_germinated=tpb.SeedGerminatedPayload(
            slot_id="r0c1", blueprint_id="conv_light", seed_id="s1", params=1200
        ),
    )
    pruned = f.make(
        event_type,
        env_id=1,
        seed_pruned=tpb.SeedPrunedPayload(
            slot_id="r0c1", blueprint_id=payload_blueprint, reason="no improvement"
        ),
    )
    t = feed(run, [f.started(), germ, pruned])
    snap = run.snapshot(t)
    env = {e.env_id: e for e in snap.envs.envs}[1]
    seed = env.seeds["r0c1"]
    assert seed.blueprint_id == "conv_light"
    assert seed.stage == tpb.SEED_STAGE_PRUNED
    assert seed.seed_id == "s1"
    assert snap.lifecycle.germinated == 1 and snap.lifecycle.pruned == 1
    assert "pruned conv_light" in snap.event_log.entries[-1].message


def test_culled_seed_without_prior_germination_gets_payload_blueprint(f: Producer) -> None:
    run = RunAggregator(RUN)
    culled = f.make(
        tpb.EVENT_TYPE_SEED_CULLED,
        env_id=0,
        seed_pruned=tpb.SeedPrunedPayload(slot_id="r1c0", blueprint_id="attention"),
    )
    t = feed(run, [culled])
    assert run.snapshot(t).envs.envs[0].seeds["r1c0"].blueprint_id == "attention"


def test_seed_lifecycle_through_fossilized(f: Producer) -> None:
    run = RunAggregator(RUN)
    events = [
        f.make(
            tpb.EVENT_TYPE_SEED_GERMINATED,
            env_id=0,
            seed_germinated=tpb.SeedGerminatedPayload(
                slot_id="r0c0", blueprint_id="lora", seed_id="s9", params=500
            ),
        ),
        f.make(
            tpb.EVENT_TYPE_SEED_STAGE_CHANGED,
            env_id=0,
            seed_stage_changed=tpb.SeedStageChangedPayload(
                slot_id="r0c0",
                from_stage=tpb.SEED_STAGE_TRAINING,
                to_stage=tpb.SEED_STAGE_BLENDING,
                alpha=0.25,
            ),
        ),
        f.make(
            tpb.EVENT_TYPE_SEED_GATE_EVALUATED,
            env_id=0,
            seed_gate_evaluated=tpb.SeedGateEvaluatedPayload(
                slot_id="r0c0", gate="G3", passed=True, target_stage=tpb.SEED_STAGE_HOLDING
            ),
        ),
    ]
    t = feed(run, events)
    seed = run.snapshot(t).envs.envs[0].seeds["r0c0"]
    assert seed.stage == tpb.SEED_STAGE_BLENDING
    assert seed.alpha == pytest.approx(0.25)
    assert seed.blueprint_id == "lora" and seed.params == 500
    fossil = f.make(
        tpb.EVENT_TYPE_SEED_FOSSILIZED,
        env_id=0,
        seed_fossilized=tpb.SeedFossilizedPayload(slot_id="r0c0", params_added=500),
    )
    t = feed(run, [fossil], t + 1)
    snap = run.snapshot(t)
    assert snap.envs.envs[0].seeds["r0c0"].stage == tpb.SEED_STAGE_FOSSILIZED
    assert snap.envs.envs[0].seeds["r0c0"].blueprint_id == "lora"
    assert snap.lifecycle.fossilized == 1 and snap.lifecycle.germinated == 1
    messages = [e.message for e in snap.event_log.entries]
    assert any("BLENDING" in m for m in messages)
    assert any("gate G3 passed" in m for m in messages)
    assert "fossilized lora" in messages[-1]


def test_epoch_completed_env_state_and_seed_merge(f: Producer) -> None:
    run = RunAggregator(RUN)
    s1 = tpb.SeedTelemetry(slot_id="r0c0", stage=tpb.SEED_STAGE_TRAINING, blueprint_id="norm")
    s2 = tpb.SeedTelemetry(slot_id="r0c1", stage=tpb.SEED_STAGE_DORMANT)
    t = feed(
        run,
        [
            f.epoch(2, acc=0.6, reward=1.0, epoch=1, seeds=[s1, s2]),
            f.epoch(2, acc=0.5, reward=0.5, epoch=2,
                    seeds=[tpb.SeedTelemetry(slot_id="r0c0", stage=tpb.SEED_STAGE_BLENDING)]),
            f.epoch(0, acc=0.4, reward=2.0, epoch=2),
        ],
    )  # fmt: skip
    snap = run.snapshot(t)
    assert [e.env_id for e in snap.envs.envs] == [0, 2]  # sorted by env id
    env = snap.envs.envs[1]
    last = env.last_epoch
    assert last.val_accuracy == pytest.approx(0.5) and env.best_accuracy == pytest.approx(0.6)
    assert last.reward == pytest.approx(0.5) and env.cumulative_reward == pytest.approx(1.5)
    assert env.epoch == 2 and last.host_params == 1000 and last.val_loss == pytest.approx(0.5)
    assert not last.seeds  # the seeds are in env.seeds, once
    accuracy = {(s.metric, s.env_id): list(s.values) for s in snap.histories.series
                if s.HasField("env_id")}
    assert accuracy[("epoch_completed.val_accuracy", 2)] == pytest.approx([0.6, 0.5])
    assert accuracy[("epoch_completed.reward", 0)] == pytest.approx([2.0])
    assert env.seeds["r0c0"].stage == tpb.SEED_STAGE_BLENDING
    assert env.seeds["r0c0"].blueprint_id == "norm"  # kept when the payload omits it
    assert env.seeds["r0c1"].stage == tpb.SEED_STAGE_DORMANT
    assert snap.envs.mean_reward == pytest.approx((0.5 + 2.0) / 2)
    assert len(snap.event_log.entries) == 0  # epochs are not logged


def test_episodes_per_second_from_batch_receive_times(f: Producer) -> None:
    run = RunAggregator(RUN)
    run.apply(f.batch(1, done=4), T0)
    run.apply(f.batch(2, done=8), T0 + 2.0)
    snap = run.snapshot(T0 + 2.0)
    assert snap.run.episodes_per_second == pytest.approx(2.0)
    series = {s.metric: list(s.values) for s in snap.histories.series}
    assert series["batch_epoch_completed.avg_reward"] == pytest.approx([1.5, 1.5])
    assert series["batch_epoch_completed.avg_accuracy"] == pytest.approx([0.6, 0.6])


def test_training_completed(f: Producer) -> None:
    run = RunAggregator(RUN)
    done = f.make(
        tpb.EVENT_TYPE_TRAINING_COMPLETED,
        training_completed=tpb.TrainingCompletedPayload(
            total_episodes=100, final_accuracy=0.9, status="completed"
        ),
    )
    t = feed(run, [f.started(), done])
    snap = run.snapshot(t)
    assert snap.run.status == spb.RUN_STATUS_COMPLETED
    assert snap.run.completion.final_accuracy == pytest.approx(0.9)
    assert "Training completed" in snap.event_log.entries[-1].message


def test_epoch_seed_merge_blueprint_rules(f: Producer) -> None:
    """A pruned seed reported without blueprint keeps it; a slot reset to DORMANT drops it."""
    run = RunAggregator(RUN)
    germ = f.make(
        tpb.EVENT_TYPE_SEED_GERMINATED,
        env_id=0,
        seed_germinated=tpb.SeedGerminatedPayload(slot_id="r0c0", blueprint_id="mlp"),
    )
    pruned = tpb.SeedTelemetry(slot_id="r0c0", stage=tpb.SEED_STAGE_PRUNED)
    t = feed(run, [germ, f.epoch(0, seeds=[pruned])])
    assert run.snapshot(t).envs.envs[0].seeds["r0c0"].blueprint_id == "mlp"
    dormant = tpb.SeedTelemetry(slot_id="r0c0", stage=tpb.SEED_STAGE_DORMANT)
    t = feed(run, [f.epoch(0, seeds=[dormant])], t + 1)
    seed = run.snapshot(t).envs.envs[0].seeds["r0c0"]
    assert seed.stage == tpb.SEED_STAGE_DORMANT and seed.blueprint_id == ""


def test_batch_barrier_resets_episode_state(f: Producer) -> None:
    s = tpb.SeedTelemetry(slot_id="r0c0", stage=tpb.SEED_STAGE_TRAINING, blueprint_id="mlp")
    run = RunAggregator(RUN)
    t = feed(run, [f.epoch(0, acc=0.7, reward=1.0, seeds=[s]), f.epoch(1, reward=2.0)])
    t = feed(run, [f.batch(1)], t + 1)
    envs = run.snapshot(t).envs.envs
    assert [e.cumulative_reward for e in envs] == [0.0, 0.0]
    assert len(envs[0].seeds) == 0  # new episode, new host
    assert envs[0].best_accuracy == pytest.approx(0.7)  # run-long
    assert envs[0].last_epoch.reward == pytest.approx(1.0)  # last reported step stays visible


def test_each_group_keeps_its_own_series_of_the_plotted_ppo_fields(f: Producer) -> None:
    """The series follow the presentation table: one per plotted PPOUpdatePayload field and
    policy group, nothing for the fields it does not plot."""
    run = RunAggregator(RUN)
    t = feed(run, [f.ppo(kl_divergence=0.01), f.ppo(kl_divergence=0.02),
                   f.ppo(group_id="B", kl_divergence=0.5)])
    series = {(s.metric, s.group_id): list(s.values) for s in run.snapshot(t).histories.series}
    assert series[("ppo_update.kl_divergence", "")] == pytest.approx([0.01, 0.02])
    assert series[("ppo_update.kl_divergence", "B")] == pytest.approx([0.5])
    plotted = {m for m, g in series if g == "" and m.startswith("ppo_update.")}
    assert plotted == {f"ppo_update.{n}" for n in presentation.plotted(tpb.PPOUpdatePayload)}
    assert ("ppo_update.ratio_max", "") not in series


def test_series_are_bounded(f: Producer) -> None:
    run = RunAggregator(RUN, history_len=5)
    t = feed(run, [f.ppo(policy_loss=float(k)) for k in range(12)]
             + [f.epoch(0, acc=k / 20) for k in range(12)])
    series = {(s.metric, s.env_id): list(s.values) for s in run.snapshot(t).histories.series}
    assert series[("ppo_update.policy_loss", 0)] == [7.0, 8.0, 9.0, 10.0, 11.0]
    assert len(series[("epoch_completed.val_accuracy", 0)]) == 5
