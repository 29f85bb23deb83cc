"""The snapshot's `metrics` section: the run's own scalars (`run.log()`), per name the
latest value, step and bounded history, the refused count beyond the cap of names, and the
budget trimming their histories before anything else of the run's state."""

from __future__ import annotations

import esper_client
from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_common.events import MAX_METRIC_NAMES
from sanctum_svc.aggregator import RunAggregator
from testkit import ThreadedSanctum


def test_logged_scalars_are_in_the_snapshot(sanctum: ThreadedSanctum) -> None:
    with esper_client.init(server=sanctum.address, run_id="logged") as run:
        for step in range(5):
            run.log({"loss": 1.0 / (step + 1)}, step=step)
        run.log({"eval": 0.9}, step=None, group_id="B", env_id=2)
    snap = sanctum.snapshot("logged")
    assert snap.HasField("metrics") and snap.metrics.refused == 0
    by_name = {m.name: m for m in snap.metrics.metrics}
    assert list(by_name) == ["loss", "eval"]  # the order names were first logged in
    loss = by_name["loss"]
    assert (loss.value, loss.step, loss.group_id) == (0.2, 4, "")
    assert not loss.HasField("env_id")
    assert list(loss.history) == [1.0, 0.5, 1.0 / 3, 0.25, 0.2]
    evaluation = by_name["eval"]
    assert (evaluation.group_id, evaluation.env_id, evaluation.value) == ("B", 2, 0.9)
    assert not evaluation.HasField("step")  # unknown, not zero


def test_no_metrics_section_when_the_run_logged_none(sanctum: ThreadedSanctum) -> None:
    with esper_client.init(server=sanctum.address, run_id="quiet"):
        pass
    assert not sanctum.snapshot("quiet").HasField("metrics")


def _metrics_event(seq: int, names: list[str], value: float) -> tpb.TelemetryEvent:
    return tpb.TelemetryEvent(
        run_id="r", producer_id="p", seq=seq, event_type=tpb.EVENT_TYPE_METRICS,
        metrics=tpb.MetricsPayload(step=seq, metrics=[tpb.Metric(name=n, value=value)
                                                      for n in names]))


def test_names_beyond_the_cap_are_refused_and_counted_in_the_snapshot() -> None:
    run = RunAggregator("r", history_len=4)
    run.apply_many([_metrics_event(k + 1, [f"m{k}"], float(k))
                    for k in range(MAX_METRIC_NAMES + 7)], 1.0)
    snap = run.snapshot(2.0)
    assert len(snap.metrics.metrics) == MAX_METRIC_NAMES
    assert snap.metrics.refused == 7
    assert snap.metrics.metrics[-1].name == f"m{MAX_METRIC_NAMES - 1}"


def test_budget_squeeze_trims_metric_histories_keeping_latest_values() -> None:
    budget = 64 * 1024
    run = RunAggregator("r", history_len=1000, snapshot_budget=budget)
    names = [f"metric-{k}" for k in range(20)]
    run.apply_many([_metrics_event(s + 1, names, float(s)) for s in range(1000)], 1.0)
    full = RunAggregator("r", history_len=1000)
    full.apply_many([_metrics_event(s + 1, names, float(s)) for s in range(1000)], 1.0)
    assert full.snapshot(2.0).ByteSize() > budget  # 20 x 1000 doubles: ~160 KB

    snap = run.snapshot(2.0)
    assert snap.ByteSize() <= budget
    trims = {f.field: f.omitted for f in snap.trimmed.fields}
    assert list(trims) == ["metrics.metrics.history"]
    kept = sum(len(m.history) for m in snap.metrics.metrics)
    assert trims["metrics.metrics.history"] == 20 * 1000 - kept and kept > 0
    assert len(snap.metrics.metrics) == 20
    for m in snap.metrics.metrics:
        assert (m.value, m.step) == (999.0, 1000)
        assert m.history[-1] == 999.0  # the oldest values went
