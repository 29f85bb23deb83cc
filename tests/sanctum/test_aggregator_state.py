"""Aggregator: registry completeness, A/B groups, bounds, liveness, determinism."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_common.events import PAYLOAD_FOR_TYPE, payload_matches
from sanctum_svc.aggregator import RunAggregator
from sanctum_svc.handlers import HANDLERS, handles
from testkit.events import RUN, Producer, realistic_run

T0 = 1_700_000_000.0


def replay(events: list[tpb.TelemetryEvent], **kwargs: int) -> RunAggregator:
    run = RunAggregator(RUN, **kwargs)
    for i, event in enumerate(events):
        run.apply(event, T0 + 0.01 * i)
    return run


def test_every_event_type_has_a_handler() -> None:
    missing = [tpb.EventType.Name(t) for t in PAYLOAD_FOR_TYPE if t not in HANDLERS]
    assert missing == []
    declared = {v.number for v in tpb.EventType.DESCRIPTOR.values} - {0}
    assert declared <= set(HANDLERS)


def test_registering_a_type_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="two handlers"):
        handles(tpb.EVENT_TYPE_EPOCH_COMPLETED)(lambda run, event, t: None)


def test_realistic_stream_touches_every_type_and_serializes() -> None:
    events = realistic_run(12, n_envs=4, epochs=5)
    assert all(payload_matches(e) for e in events)
    assert {e.event_type for e in events} == set(PAYLOAD_FOR_TYPE)
    run = replay(events)
    snap = run.snapshot(T0 + 10)
    assert spb.SanctumSnapshot.FromString(snap.SerializeToString()) == snap
    assert snap.version == len(events) == run.events_applied
    assert snap.run.status == spb.RUN_STATUS_COMPLETED
    assert len(snap.envs.envs) == 4
    assert snap.vitals.cpu_percent > 0 and not snap.vitals.HasField("gpu_memory_used_gb")
    assert snap.tamiyo.groups[0].last_decision.heads[0].action == "WAIT"
    assert 0 < len(snap.decisions.recent) <= 16
    assert snap.lifecycle.germinated > 0


def test_ab_groups() -> None:
    f = Producer()
    events = [
        f.started(),
        f.ppo(group_id="A", policy_loss=0.1),
        f.ppo(group_id="B", policy_loss=0.2),
        f.ppo(group_id="B", policy_loss=0.3, gradient_cv=1.0),
        f.epoch(0, group_id="A"),
        f.epoch(0, group_id="B"),
        f.make(
            tpb.EVENT_TYPE_ANALYTICS_SNAPSHOT,
            group_id="A",
            analytics_snapshot=tpb.AnalyticsSnapshotPayload(
                decision=tpb.DecisionCard(env_id=0, op=tpb.LIFECYCLE_OP_WAIT)
            ),
        ),
        f.make(
            tpb.EVENT_TYPE_ANALYTICS_SNAPSHOT,
            group_id="B",
            analytics_snapshot=tpb.AnalyticsSnapshotPayload(  # a producer's wrong claim
                decision=tpb.DecisionCard(env_id=0, op=tpb.LIFECYCLE_OP_PRUNE, group_id="A")
            ),
        ),
    ]
    run = replay(events)
    snap = run.snapshot(T0 + 1)
    assert [g.group_id for g in snap.tamiyo.groups] == ["A", "B"]  # primary (first seen) first
    a, b = snap.tamiyo.groups
    assert a.last_update.policy_loss == pytest.approx(0.1) and a.updates == 1
    assert not a.last_measured.HasField("gradient_cv")
    assert b.last_update.policy_loss == pytest.approx(0.3) and b.updates == 2
    assert b.last_measured.gradient_cv == pytest.approx(1.0)
    assert b.last_decision.op == tpb.LIFECYCLE_OP_PRUNE and b.last_decision.group_id == "B"
    assert a.last_decision.op == tpb.LIFECYCLE_OP_WAIT
    # Env 0 decided in both groups: each card says which group decided, taken from the
    # envelope whatever the card claimed. Each is sent once: as its group's last decision,
    # not again in the feed.
    assert (b.last_decision.group_id, a.last_decision.group_id) == ("B", "A")
    assert list(snap.decisions.recent) == []
    series = {(s.metric, s.group_id): list(s.values) for s in snap.histories.series}
    assert series[("ppo_update.policy_loss", "A")] == pytest.approx([0.1])  # each group its own
    assert series[("ppo_update.policy_loss", "B")] == pytest.approx([0.2, 0.3])
    assert [(e.group_id, e.env_id) for e in snap.envs.envs] == [("A", 0), ("B", 0)]
    assert list(run.summary(T0 + 1).group_ids) == ["A", "B"]


def test_histories_are_bounded_newest_last() -> None:
    f = Producer()
    events = [f.ppo(policy_loss=float(i)) for i in range(23)]
    events += [f.epoch(0, acc=i / 100) for i in range(23)]
    events += [f.batch(i, avg_reward=float(i)) for i in range(23)]
    run = replay(events, history_len=5)
    for _ in range(2):  # snapshot() must not disturb the working state
        snap = run.snapshot(T0 + 1)
        series = {s.metric: list(s.values) for s in snap.histories.series}
        assert series["ppo_update.policy_loss"] == [18.0, 19.0, 20.0, 21.0, 22.0]
        assert series["batch_epoch_completed.avg_reward"] == [18.0, 19.0, 20.0, 21.0, 22.0]
        assert len(series["ppo_update.entropy"]) == 5
        assert series["epoch_completed.val_accuracy"] == pytest.approx(
            [0.18, 0.19, 0.2, 0.21, 0.22])
    assert all(len(values) == 5 for values in run.series.values())  # working state bounded


def test_event_log_is_bounded_and_readable() -> None:
    f = Producer()
    events = [
        f.make(
            tpb.EVENT_TYPE_RATIO_EXPLOSION_DETECTED,
            severity=tpb.SEVERITY_UNSPECIFIED,
            anomaly=tpb.AnomalyPayload(detail=f"#{i}", value=9.0, threshold=3.0, layers=["fc1"]),
        )
        for i in range(12)
    ]
    run = replay(events, event_log_len=3)
    log = run.snapshot(T0 + 1).event_log.entries
    assert [e.message.split(":")[1].split()[0] for e in log] == ["#9", "#10", "#11"]
    assert log[-1].message == "Ratio explosion: #11 (value 9, threshold 3) [fc1]"
    assert log[-1].severity == tpb.SEVERITY_WARNING
    assert log[-1].event_type == tpb.EVENT_TYPE_RATIO_EXPLOSION_DETECTED
    assert len(run.state.event_log.entries) < 6


@pytest.mark.parametrize(
    ("age", "liveness"),
    [
        (0.0, spb.LIVENESS_LIVE),
        (1.99, spb.LIVENESS_LIVE),
        (2.0, spb.LIVENESS_SLOW),
        (4.99, spb.LIVENESS_SLOW),
        (5.0, spb.LIVENESS_STALE),
        (3600.0, spb.LIVENESS_STALE),
    ],
)
def test_liveness_bands(age: float, liveness: int) -> None:
    run = RunAggregator(RUN)
    run.apply(Producer().started(), T0)
    snap = run.snapshot(T0 + age)
    assert snap.run.liveness == liveness
    assert snap.run.seconds_since_last_event == pytest.approx(age)
    assert snap.run.last_event_time.ToNanoseconds() == int(T0 * 1e9)
    assert snap.generated_at.ToNanoseconds() == round((T0 + age) * 1e9)
    assert run.summary(T0 + age).liveness == liveness


def test_no_events_means_unknown_liveness() -> None:
    snap = RunAggregator(RUN).snapshot(T0)
    assert snap.run.liveness == spb.LIVENESS_UNSPECIFIED
    assert not snap.run.HasField("last_event_time")
    assert snap.version == 0


def test_version_touch_and_delivery_verbatim() -> None:
    run = RunAggregator(RUN)
    run.apply(Producer().started(), T0)
    assert run.version == 1
    run.delivery.events_received = 7
    run.delivery.producers.add(producer_id="trainer-0", last_seq=1, gap_events=2)
    run.touch()
    snap = run.snapshot(T0)
    assert snap.version == 2
    assert snap.delivery == run.delivery
    snap.delivery.events_received = 0  # a snapshot is a fresh message
    snap.run.config.lr = 99.0
    assert run.delivery.events_received == 7
    assert run.snapshot(T0).run.config.lr == pytest.approx(3e-4)


def test_unknown_event_type_counts_as_activity_only() -> None:
    run = RunAggregator(RUN)
    run.apply(tpb.TelemetryEvent(run_id=RUN, producer_id="p", seq=1, event_type=999), T0)
    snap = run.snapshot(T0)
    assert snap.version == 1 and snap.run.liveness == spb.LIVENESS_LIVE
    assert snap.run.status == spb.RUN_STATUS_UNSPECIFIED


def test_summary() -> None:
    run = replay(realistic_run(2, n_envs=3, epochs=2))
    summary = run.summary(T0 + 100)
    assert summary.run_id == RUN and summary.task == "cifar10"
    assert summary.n_envs == 3 and summary.episodes_completed == 6
    assert summary.total_episodes == 100
    assert summary.status == spb.RUN_STATUS_COMPLETED
    assert summary.liveness == spb.LIVENESS_STALE
    assert summary.events_applied == run.events_applied


def test_second_rank_start_keeps_started_at() -> None:
    f = Producer()
    first, second = f.started(world_size=2), f.started(world_size=2)
    second.training_started.rank = 1
    run = replay([first, second])
    snap = run.snapshot(T0)
    assert snap.run.started_at == first.timestamp
    assert "rank 1/2" in snap.event_log.entries[-1].message


def test_same_events_same_snapshot() -> None:
    events = realistic_run(6, n_envs=5, epochs=4, seed=3)
    a, b = replay(events, history_len=7), replay(events, history_len=7)
    assert a.snapshot(T0 + 5).SerializeToString(deterministic=True) == b.snapshot(
        T0 + 5
    ).SerializeToString(deterministic=True)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n_envs=st.integers(1, 6),
    cut=st.integers(0, 400),
)
def test_replay_of_any_prefix_is_deterministic(seed: int, n_envs: int, cut: int) -> None:
    """A restarted server replays a prefix of the store: it must rebuild the same state."""
    events = realistic_run(4, n_envs=n_envs, epochs=3, seed=seed)[:cut]
    a, b = replay(events, history_len=4, event_log_len=5), replay(events, history_len=4,
                                                                     event_log_len=5)  # fmt: skip
    assert a.snapshot(T0 + 9) == b.snapshot(T0 + 9)
    assert a.summary(T0 + 9) == b.summary(T0 + 9)
