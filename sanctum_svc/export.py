"""`esper-sanctum export RUN --format parquet|csv|tensorboard --out DIR`.

Streams a run through the Export RPC (its summary, its config, then every series at full
resolution in chunks) and writes, into DIR:
- run.json: the run's summary and config (protobuf JSON);
- parquet: series.parquet, one row per point: name (string), group_id (string), env_id
  (int32, null for series of no env), step (int64), time (timestamp[us, UTC]), value
  (float64); one row group per chunk;
- csv: series.csv with the same columns (time as unix seconds);
- tensorboard: an event file of 0-d float64 tensors tagged "scalars" (TensorBoard plots them
  as scalars; float64 keeps the values exact), tag = name[/group=G][/env=E], the series
  step as step and the point's time as wall time.
Writing is streamed chunk by chunk: memory stays one chunk, however long the run.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf import json_format

from esper.sanctum.v2 import sanctum_pb2 as spb

FORMATS = ("parquet", "csv", "tensorboard")
_EXTRA_HINT = ("pip install 'esper-sanctum[export]' (pyarrow and tensorboard), or use "
               "--format csv")


class ExportError(Exception):
    """The export cannot be written (a missing extra, an unusable --out)."""


def tag_of(key: spb.SeriesKey) -> str:
    tag = key.name
    if key.group_id:
        tag += f"/group={key.group_id}"
    if key.HasField("env_id"):
        tag += f"/env={key.env_id}"
    return tag


@dataclass
class ExportReport:
    files: list[Path] = field(default_factory=list)
    series: int = 0
    points: int = 0


class _Sink:
    def __init__(self, out: Path) -> None:
        self.out = out

    def add(self, data: spb.SeriesData) -> None:
        raise NotImplementedError

    def close(self) -> list[Path]:
        raise NotImplementedError


class CsvSink(_Sink):
    def __init__(self, out: Path) -> None:
        super().__init__(out)
        self.path = out / "series.csv"
        self._fh = self.path.open("w", newline="")
        self._w = csv.writer(self._fh)
        self._w.writerow(("name", "group_id", "env_id", "step", "time", "value"))

    def add(self, data: spb.SeriesData) -> None:
        k = data.key
        env = k.env_id if k.HasField("env_id") else ""
        self._w.writerows((k.name, k.group_id, env, s, repr(t), repr(v))
                          for s, t, v in zip(data.steps, data.times, data.values, strict=True))

    def close(self) -> list[Path]:
        self._fh.close()
        return [self.path]


class ParquetSink(_Sink):
    def __init__(self, out: Path) -> None:
        super().__init__(out)
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError as exc:
            raise ExportError(f"--format parquet needs pyarrow: {_EXTRA_HINT}") from exc
        self.pa = pa
        self.schema = pa.schema([
            ("name", pa.string()), ("group_id", pa.string()), ("env_id", pa.int32()),
            ("step", pa.int64()), ("time", pa.timestamp("us", tz="UTC")),
            ("value", pa.float64())])
        self.path = out / "series.parquet"
        self._w = pq.ParquetWriter(self.path, self.schema)

    def add(self, data: spb.SeriesData) -> None:
        pa, k, n = self.pa, data.key, len(data.steps)
        env = k.env_id if k.HasField("env_id") else None
        table = pa.table({
            "name": pa.array([k.name] * n, pa.string()),
            "group_id": pa.array([k.group_id] * n, pa.string()),
            "env_id": pa.array([env] * n, pa.int32()),
            "step": pa.array(data.steps, pa.int64()),
            "time": pa.array([round(t * 1e6) for t in data.times], pa.int64()).cast(
                pa.timestamp("us", tz="UTC")),
            "value": pa.array(data.values, pa.float64()),
        }, schema=self.schema)
        self._w.write_table(table)

    def close(self) -> list[Path]:
        self._w.close()
        return [self.path]


class TensorBoardSink(_Sink):
    def __init__(self, out: Path) -> None:
        super().__init__(out)
        try:
            from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, types_pb2
            from tensorboard.summary.writer.event_file_writer import EventFileWriter
        except ImportError as exc:
            raise ExportError(f"--format tensorboard needs tensorboard: {_EXTRA_HINT}") \
                from exc
        self._pb = (event_pb2, summary_pb2, tensor_pb2, types_pb2)
        self._writer = EventFileWriter(str(out))
        self._meta = summary_pb2.SummaryMetadata(
            plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))
        self._described: set[str] = set()

    def add(self, data: spb.SeriesData) -> None:
        event_pb2, summary_pb2, tensor_pb2, types_pb2 = self._pb
        tag = tag_of(data.key)
        for step, t, value in zip(data.steps, data.times, data.values, strict=True):
            tensor = tensor_pb2.TensorProto(dtype=types_pb2.DT_DOUBLE, double_val=[value])
            summary_value = summary_pb2.Summary.Value(tag=tag, tensor=tensor)
            if tag not in self._described:  # metadata goes with a tag's first value
                summary_value.metadata.CopyFrom(self._meta)
                self._described.add(tag)
            self._writer.add_event(event_pb2.Event(
                wall_time=t, step=step, summary=summary_pb2.Summary(value=[summary_value])))

    def close(self) -> list[Path]:
        self._writer.close()
        return sorted(self.out.glob("events.out.tfevents.*"))


SINKS: dict[str, type[_Sink]] = {"parquet": ParquetSink, "csv": CsvSink,
                                 "tensorboard": TensorBoardSink}


def write_export(responses: Iterable[spb.ExportResponse], fmt: str, out: Path,
                 progress: Any = None) -> ExportReport:
    """Write an Export stream into `out` (created if missing) in format `fmt`."""
    if fmt not in SINKS:
        raise ExportError(f"unknown format {fmt!r} (choose {', '.join(FORMATS)})")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"cannot create {out}: {exc}") from exc
    sink = SINKS[fmt](out)
    report = ExportReport()
    meta: dict[str, Any] = {}
    last: str | None = None
    try:
        for chunk in responses:
            part = chunk.WhichOneof("part")
            if part == "summary":
                meta["summary"] = json_format.MessageToDict(chunk.summary)
            elif part == "config":
                meta["config"] = json_format.MessageToDict(chunk.config)
            elif part == "series":
                tag = tag_of(chunk.series.key)
                if tag != last:
                    report.series += 1
                    last = tag
                sink.add(chunk.series)
                report.points += len(chunk.series.steps)
                if progress is not None:
                    progress(report)
    finally:
        report.files += sink.close()
    run_json = out / "run.json"
    run_json.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    report.files.insert(0, run_json)
    return report
