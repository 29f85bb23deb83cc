"""`run.log(...)`: a training script's own scalars reach sanctum, which keeps per name the
latest value and a bounded history, for a bounded number of names."""

from __future__ import annotations

from buf.validate import validate_pb2 as vpb

import esper_client
from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_common.events import MAX_METRIC_NAME_CHARS, MAX_METRIC_NAMES
from sanctum_svc.aggregator import RunAggregator
from testkit import ThreadedSanctum


def test_the_limits_are_the_contracts() -> None:
    name = tpb.Metric.DESCRIPTOR.fields_by_name["name"].GetOptions().Extensions[vpb.field]
    items = tpb.MetricsPayload.DESCRIPTOR.fields_by_name["metrics"].GetOptions().Extensions[
        vpb.field]
    assert name.string.max_len == MAX_METRIC_NAME_CHARS
    assert items.repeated.max_items == MAX_METRIC_NAMES


def _tracks(server: ThreadedSanctum, run_id: str) -> RunAggregator:
    run = server.server.aggregator.get(run_id)  # type: ignore[union-attr]
    assert run is not None
    return run


def test_logged_scalars_reach_sanctum_bounded(sanctum: ThreadedSanctum) -> None:
    with esper_client.init(server=sanctum.address, run_id="logged") as run:
        for step in range(300):
            run.log({"loss": 1.0 / (step + 1), "lr": 3e-4, "acc": float("nan")}, step=step)
        run.log({f"name-{k}": float(k) for k in range(MAX_METRIC_NAMES)}, step=300)
        run.log({"x" * (MAX_METRIC_NAME_CHARS + 1): 1.0, "": 2.0, "loss": 0.5}, step=301)
        run.log({"eval": 0.9}, step=302, group_id="B", env_id=0)
    stats = run.stats()
    assert stats["nonfinite"] == 300
    # loss and lr (acc never had a finite value), then 254 of the 256 new names fit; the 2
    # others, the long and the empty name, and "eval" are refused
    assert stats["refused_names"] == 2 + 2 + 1
    snap = sanctum.snapshot("logged")
    assert snap.delivery.events_applied == 1 + 300 + 3 + 1  # start, logs, completion
    tracks = _tracks(sanctum, "logged").metrics
    loss = tracks.tracks[("", None, "loss")]
    assert (loss.value, loss.step) == (0.5, 301)
    assert list(loss.history)[-2:] == [1.0 / 300, 0.5] and len(loss.history) == 120
    assert len(tracks.tracks) == MAX_METRIC_NAMES and tracks.refused == 0


def test_sanctum_keeps_no_more_names_than_the_cap_whatever_a_producer_sends() -> None:
    run = RunAggregator("r", history_len=4)
    for k in range(MAX_METRIC_NAMES + 50):
        run.apply(tpb.TelemetryEvent(
            run_id="r", producer_id="p", seq=k + 1, event_type=tpb.EVENT_TYPE_METRICS,
            metrics=tpb.MetricsPayload(metrics=[tpb.Metric(name=f"m{k}", value=1.0),
                                                tpb.Metric(name="m0", value=float(k))])),
            1.0 + k)
    assert len(run.metrics.tracks) == MAX_METRIC_NAMES and run.metrics.refused == 50
    m0 = run.metrics.tracks[("", None, "m0")]
    assert m0.value == MAX_METRIC_NAMES + 49 and len(m0.history) == 4
