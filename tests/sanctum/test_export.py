"""Export: parquet (typed columns), csv and TensorBoard event files, read back with pyarrow
and TensorBoard's own reader, equal to what the Series RPC serves."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from esper.sanctum.v2 import sanctum_pb2 as spb
from sanctum_svc import cli
from sanctum_svc.export import tag_of
from testkit.events import build_run_events, synthetic_ppo_run
from testkit.servers import ThreadedSanctum

RUN = "long"


@pytest.fixture(scope="module")
def served() -> object:
    events = synthetic_ppo_run(1500, run_id=RUN, planted={700: 4.0})
    more = build_run_events(RUN, "trainer-1", n_batches=3, n_envs=3, group_id="B")
    with ThreadedSanctum(token="w", read_token="r") as s:
        s.ingest(events, batch_size=500)
        s.ingest(more[1:])  # the run is declared once (by trainer-0)
        with s.channel() as ch:
            full = s.stub(ch).Series(spb.SeriesRequest(
                run_id=RUN, series=[spb.SeriesSelector(name="*")], max_points=20_000),
                metadata=s.metadata)
        assert len(full.series) > 100 and not any(d.downsampled for d in full.series)
        expected = {tag_of(d.key): (list(d.steps), list(d.times), list(d.values))
                    for d in full.series}
        yield s, expected


def _export(s: ThreadedSanctum, fmt: str, out: Path) -> None:
    assert cli.main(["export", RUN, "--format", fmt, "--out", str(out), "--server",
                     s.address, "--token", "r"]) == 0
    meta = json.loads((out / "run.json").read_text())
    assert meta["summary"]["runId"] == RUN and meta["config"]["task"] == "cifar10"


def _check(expected: dict, got: dict) -> None:
    assert set(got) == set(expected)
    assert any("heads.OP.entropy" in t for t in got)
    assert "batch_epoch_completed.env_accuracies/group=B/env=2" in got
    assert max(got["ppo_update.kl_divergence"][2]) == 4.0
    for tag, (steps, times, values) in expected.items():
        g_steps, g_times, g_values = got[tag]
        assert g_steps == steps and g_values == values, tag
        assert g_times == pytest.approx(times, abs=1e-6), tag


def test_parquet_reads_back_typed_and_equal(served: tuple, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    s, expected = served
    _export(s, "parquet", tmp_path)
    table = pq.read_table(tmp_path / "series.parquet")
    assert table.schema.field("step").type == pa.int64()
    assert table.schema.field("value").type == pa.float64()
    assert table.schema.field("env_id").type == pa.int32()
    assert table.schema.field("time").type == pa.timestamp("us", tz="UTC")
    got: dict = {}
    cols = table.to_pydict()
    for name, group, env, step, t, v in zip(cols["name"], cols["group_id"], cols["env_id"],
                                            cols["step"], cols["time"], cols["value"],
                                            strict=True):
        key = spb.SeriesKey(name=name, group_id=group)
        if env is not None:
            key.env_id = env
        steps, times, values = got.setdefault(tag_of(key), ([], [], []))
        steps.append(step)
        times.append(t.timestamp())
        values.append(v)
    _check(expected, got)


def test_csv_reads_back_equal(served: tuple, tmp_path: Path) -> None:
    s, expected = served
    _export(s, "csv", tmp_path)
    got: dict = {}
    with (tmp_path / "series.csv").open() as fh:
        for row in csv.DictReader(fh):
            key = spb.SeriesKey(name=row["name"], group_id=row["group_id"])
            if row["env_id"]:
                key.env_id = int(row["env_id"])
            steps, times, values = got.setdefault(tag_of(key), ([], [], []))
            steps.append(int(row["step"]))
            times.append(float(row["time"]))
            values.append(float(row["value"]))
    _check(expected, got)


def test_tensorboard_reads_back_equal_with_its_own_reader(served: tuple,
                                                          tmp_path: Path) -> None:
    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.util import tensor_util

    s, expected = served
    _export(s, "tensorboard", tmp_path)
    acc = event_accumulator.EventAccumulator(
        str(tmp_path), size_guidance={event_accumulator.TENSORS: 0})
    acc.Reload()
    got = {}
    for tag in acc.Tags()["tensors"]:
        events = acc.Tensors(tag)
        got[tag] = ([e.step for e in events], [e.wall_time for e in events],
                    [float(tensor_util.make_ndarray(e.tensor_proto)) for e in events])
        assert acc.SummaryMetadata(tag).plugin_data.plugin_name == "scalars"
    _check(expected, got)


def test_export_of_an_unknown_run_or_without_the_extra_fails_clearly(
        served: tuple, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    s, _ = served
    assert cli.main(["export", "nope", "--format", "csv", "--out", str(tmp_path),
                     "--server", s.address, "--token", "r"]) == 2
    assert "no run 'nope'" in capsys.readouterr().err
