"""`esper-sanctum import`: load the original system's JSONL telemetry into a running sanctum.

The file is read one line at a time (plain or gzip) and mapped by the bridge
(esper_client.bridge) into contract events, streamed through one Ingest call in batches.
Memory stays constant whatever the file's size.

Idempotent and resumable: each run of the file is sent by the producer PRODUCER_ID with
seq = the event's position in that run (the mapping is deterministic), so sanctum applies
every event once. Before sending a run, the importer asks sanctum for that run's cursor and
skips what it already holds: a second import sends nothing, an interrupted one continues
where it stopped. A run that another producer (a live bridge, another importer version)
already fed is left alone rather than applied twice.

Events are checked with sanctum's own validation before they are sent; one it would refuse
is left out and reported instead of failing the import.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.sanctum.v2 import sanctum_pb2_grpc
from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_client.bridge import JsonlFile, Mapper, MapReport
from esper_client.bridge.report import MAX_RUNS_LISTED
from esper_common.channel import SanctumError
from sanctum_svc.import_progress import ByteProgress
from sanctum_svc.validate import validate_batch

#: Producer id of every imported event; a new mapping that changes which events a file
#: yields must change it (events of the old one would not line up with the new seqs).
PRODUCER_ID = "esper-import-v1"
BATCH_EVENTS = 512
BATCH_BYTES = 1024 * 1024
#: Runs whose numbering is kept at once (the current one and a few before it).
MAX_RUNS_KEPT = 64
_EVENT_INDEX = re.compile(r"^events\[(\d+)\]")


@dataclass
class RunProgress:
    """One run of the file: events numbered so far, and what sanctum already holds."""

    seq: int = 0
    resume_after: int = 0
    #: Why the run is not imported at all ("" = it is).
    skip: str = ""
    sent: int = 0
    already: int = 0


@dataclass
class ImportResult:
    lines: int = 0
    events: int = 0
    sent: int = 0
    already: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    #: Runs not imported (another producer fed them): the first few, with the reason.
    left_alone: list[tuple[str, str]] = field(default_factory=list)
    reply: spb.IngestResponse | None = None
    error: SanctumError | None = None
    seconds: float = 0.0


class Importer:
    """Builds the Ingest request stream of one file (see module docstring)."""

    def __init__(self, path: Path, channel: grpc.Channel,
                 metadata: tuple[tuple[str, str], ...], progress: ByteProgress) -> None:
        self.path = path
        self.stub = sanctum_pb2_grpc.SanctumServiceStub(channel)
        self.metadata = metadata
        self.progress = progress
        self.mapper = Mapper()
        self.result = ImportResult()
        #: The runs seen, the current one last (runs of a file do not interleave, so older
        #: ones are dropped beyond MAX_RUNS_KEPT).
        self._runs: dict[str, RunProgress] = {}
        self._declared: dict[str, tpb.RunConfig] = {}

    def run(self) -> ImportResult:
        """Stream the file into sanctum; errors land in result.error, never raise."""
        started = time.monotonic()
        try:
            self.result.reply = self.stub.Ingest(self.requests(), metadata=self.metadata,
                                                 wait_for_ready=False)
        except grpc.RpcError as err:
            if self.result.error is None:
                self.result.error = SanctumError.from_rpc_error(err)
        self.result.seconds = time.monotonic() - started
        return self.result

    # -- the request stream ------------------------------------------------------------
    def requests(self) -> Iterator[spb.IngestRequest]:
        mapped: list[tuple[str, tpb.TelemetryEvent]] = []
        report = self.mapper.report
        with JsonlFile(self.path) as f:
            self.progress.total = f.size
            try:
                for line in f.lines():
                    self.result.lines = line.number
                    self.progress.update(f.position, self.result)
                    if line.error:
                        report.bad_line(line.number, line.error)
                        continue
                    mapped += self.mapper.feed(line.record)
                    if len(mapped) >= BATCH_EVENTS:
                        yield from self._send(mapped)
                        mapped = []
            except (OSError, EOFError) as exc:  # a truncated gzip, a read error
                report.bad_line(self.result.lines + 1, f"file ends early: {exc}")
            mapped += self.mapper.close()
            yield from self._send(mapped)
            self.progress.update(f.size, self.result)

    def _send(self, mapped: list[tuple[str, tpb.TelemetryEvent]]
              ) -> Iterator[spb.IngestRequest]:
        if self.result.error is not None:
            return
        events = self._accepted(mapped)
        batch = tpb.EventBatch()
        size = 0
        for run_id, event in events:
            run = self._run(run_id)
            if run is None:
                return
            run.seq += 1
            self.result.events += 1
            if event.event_type == tpb.EVENT_TYPE_TRAINING_STARTED:
                self._declared[run_id] = event.training_started.config
            if run.skip:
                continue
            if run.seq <= run.resume_after:
                run.already += 1
                self.result.already += 1
                continue
            event.run_id, event.producer_id, event.seq = run_id, PRODUCER_ID, run.seq
            event_size = event.ByteSize()
            if batch.events and (len(batch.events) >= BATCH_EVENTS
                                 or size + event_size > BATCH_BYTES):
                yield spb.IngestRequest(batch=batch)
                batch, size = tpb.EventBatch(), 0
            batch.events.append(event)
            size += event_size
            run.sent += 1
            self.result.sent += 1
        if batch.events:
            yield spb.IngestRequest(batch=batch)

    def _accepted(self, mapped: list[tuple[str, tpb.TelemetryEvent]]
                  ) -> list[tuple[str, tpb.TelemetryEvent]]:
        """`mapped` without the events sanctum's validation would refuse (counted by
        reason). Checked before numbering, so numbering never depends on the server."""
        while mapped:
            batch = tpb.EventBatch()
            for k, (run_id, event) in enumerate(mapped):
                probe = batch.events.add()
                probe.CopyFrom(event)
                probe.run_id, probe.producer_id, probe.seq = run_id, PRODUCER_ID, k + 1
            violations = validate_batch(batch, self._declared.get)
            bad: dict[int, str] = {}
            for v in violations:
                m = _EVENT_INDEX.match(v.field)
                if m:
                    bad.setdefault(int(m.group(1)), v.description)
            if not bad:
                return mapped
            for k, why in bad.items():
                self.result.refused[f"{mapped[k][1].WhichOneof('payload')}: {why[:80]}"] += 1
            mapped = [item for k, item in enumerate(mapped) if k not in bad]
        return mapped

    def _run(self, run_id: str) -> RunProgress | None:
        """The run's progress, asking sanctum for its cursors the first time (None and
        result.error set when sanctum cannot be asked)."""
        run = self._runs.get(run_id)
        if run is not None:
            return run
        if len(self._runs) >= MAX_RUNS_KEPT:
            oldest = next(iter(self._runs))
            del self._runs[oldest]
            self._declared.pop(oldest, None)
        try:
            reply = self.stub.GetResumeCursor(spb.GetResumeCursorRequest(run_id=run_id),
                                              metadata=self.metadata, timeout=30)
        except grpc.RpcError as err:
            self.result.error = SanctumError.from_rpc_error(err)
            return None
        run = self._runs[run_id] = RunProgress()
        for cursor in reply.cursors:
            if cursor.producer_id == PRODUCER_ID:
                run.resume_after = cursor.last_seq
            elif cursor.last_seq:
                run.skip = (f"sanctum already has {cursor.last_seq:,} events of this run "
                            f"from producer {cursor.producer_id[:80]!r}; not imported again")
        if run.skip and len(self.result.left_alone) < MAX_RUNS_LISTED:
            self.result.left_alone.append((run_id, run.skip))
        return run


def summary_lines(path: Path, result: ImportResult, report: MapReport) -> list[str]:
    """The summary line, then what was skipped, left out or changed (most frequent first)."""
    secs = max(result.seconds, 1e-9)
    reply = result.reply
    applied = f"{reply.events_applied:,} applied" if reply is not None else "none confirmed"
    dup = f", {reply.events_duplicate:,} duplicates" if reply and reply.events_duplicate else ""
    runs = report.run_list()
    out = [f"import: {path.name}: {result.lines:,} lines, {result.events:,} events in "
           f"{secs:.1f} s ({result.events / secs:,.0f} events/s): {result.sent:,} sent, "
           f"{applied}{dup}, {result.already:,} already in sanctum; "
           f"{report.n_skipped + report.malformed:,} lines skipped; runs: {runs}"]
    for run_id, why in result.left_alone:
        out.append(f"  run {run_id}: {why}")
    out += [f"  {line}" for line in report.lines()]
    out += [f"  refused by validation {n:,} {why}" for why, n in result.refused.most_common()]
    return out
