"""Side by side with the original system, on its own batch mix and its own recorded run.

Interleaved rounds, each measuring in turn:
- raw transport: a do-nothing gRPC server (bench_sanctum.NullSanctum), the mix in batches
  of the producer client's size (TelemetryConfig.batch_max_events) on one Ingest call,
  and on one IngestStream with at most 8 batches unacknowledged;
- ours: a live sanctum (SQLite store in a temp dir) ingesting the same requests on one
  Ingest call (the reference: one reply for the whole call) and on one IngestStream;
- the same two on a sanctum in its own process (as deployed: the producer is another
  process, so client and server do not share one interpreter lock), and IngestStream on the
  do-nothing server in its own process, their raw reference;
- ours through the producer SDK (TelemetryClient with its defaults: IngestStream, its own
  batching and serialization), from the first emit() to the last acknowledgement;
- the original's in-process aggregator (`SanctumAggregator.process_event`) on the records
  of `original-small.jsonl.gz`, in its own interpreter (bench/original_inprocess.py), when
  the original's source is given: ESPER_ORIGINAL_PYTHONPATH=/path/esper-lite/src[:deps];
- ours on the same recorded run, mapped by esper_client.bridge (when present) and ingested.

    ESPER_ORIGINAL_PYTHONPATH=... python -m bench [--quick] original
"""

from __future__ import annotations

import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc

from bench import Row, register, row
from bench.bench_sanctum import NullSanctum, NullSanctumProcess, _stream
from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.sanctum.v2 import sanctum_pb2_grpc
from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_client import TelemetryClient, TelemetryConfig
from testkit import SanctumProcess, ThreadedSanctum, batches
from testkit.original_mix import BATCH_EVENTS, original_mix

ROOT = Path(__file__).resolve().parents[1]
FIXTURE_NAME = "original-small.jsonl.gz"
#: Events per EventBatch, as the producer client batches them by default.
BATCH = TelemetryConfig.batch_max_events


def fixture_path() -> Path | None:
    """The original's recorded run: ESPER_FIXTURES, else a shared/fixtures above the tree."""
    given = os.environ.get("ESPER_FIXTURES")
    candidates = [Path(given)] if given else []
    candidates += [p / "shared" / "fixtures" for p in ROOT.parents]
    for folder in candidates:
        if (folder / FIXTURE_NAME).is_file():
            return folder / FIXTURE_NAME
    return None


def original_rates(fixture: Path, rounds: int) -> dict[str, Any] | str:
    """The original's process_event rate on its fixture, or why it could not run here."""
    path = os.environ.get("ESPER_ORIGINAL_PYTHONPATH")
    if not path:
        return "set ESPER_ORIGINAL_PYTHONPATH to the original's src (and numpy)"
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("original_inprocess.py")), str(fixture),
         str(rounds)], env={**os.environ, "PYTHONPATH": path}, capture_output=True, text=True,
        timeout=600, cwd=tempfile.gettempdir(), check=False)
    if proc.returncode != 0:
        return f"original did not run: {proc.stderr.strip().splitlines()[-1:]}"
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def fixture_requests(fixture: Path) -> list[spb.IngestRequest] | str:
    """The fixture's records mapped to our contract by the bridge, batched like the client."""
    try:
        jsonl = importlib.import_module("esper_client.bridge.jsonl")
        mapper_mod = importlib.import_module("esper_client.bridge.mapper")
    except ImportError:
        return "needs esper_client.bridge (branch issue-12)"
    mapper, mapped = mapper_mod.Mapper(), []
    source = jsonl.JsonlFile(fixture)
    try:
        for line in source.lines():
            if line.record is not None:
                mapped += mapper.feed(line.record)
    finally:
        source.close()
    mapped += mapper.close()
    seqs: dict[str, int] = {}
    events = []
    for run_id, ev in mapped:  # as the importer stamps them: one producer, seq per run
        seqs[run_id] = seqs.get(run_id, 0) + 1
        ev.run_id, ev.producer_id, ev.seq = run_id, "bench-fixture", seqs[run_id]
        events.append(ev)
    return list(batches(events, BATCH))


#: Unacknowledged batches of the IngestStream rows (the client's default window).
WINDOW = TelemetryConfig.max_unacked_batches


def _bidi(address: str, requests: list[spb.IngestRequest]) -> float:
    """Events/s of one IngestStream carrying `requests`, at most WINDOW unacknowledged."""
    n = sum(len(r.batch.events) for r in requests)
    slots = threading.Semaphore(WINDOW)

    stream_requests = [spb.IngestStreamRequest(batch=r.batch) for r in requests]

    def outgoing() -> Iterator[spb.IngestStreamRequest]:
        for req in stream_requests:
            slots.acquire()
            yield req

    got = acks = 0
    with grpc.insecure_channel(address) as ch:
        stub = sanctum_pb2_grpc.SanctumServiceStub(ch)
        started = time.perf_counter()
        for ack in stub.IngestStream(outgoing(), timeout=300):
            got += ack.events_received
            acks += 1
            slots.release()
        elapsed = time.perf_counter() - started
    assert (got, acks) == (n, len(requests)), (got, acks)
    return n / elapsed


def _client(address: str, events: list[tpb.TelemetryEvent], run_id: str, spool: str) -> float:
    """Events/s through TelemetryClient with its defaults: emit() all, until all are acked."""
    for ev in events:  # the client stamps run, producer and seq itself
        for name in ("seq", "run_id", "producer_id"):
            ev.ClearField(name)
    client = TelemetryClient(TelemetryConfig(target=address, run_id=run_id,
                                             producer_id="bench-client", spool_dir=spool))
    client.start()
    try:
        started = time.perf_counter()
        for ev in events:
            client.emit(ev)
        deadline = time.monotonic() + 300
        while client.stats()["acked"] < len(events):
            assert time.monotonic() < deadline, client.stats()
            time.sleep(0.001)
        elapsed = time.perf_counter() - started
    finally:
        client.close(30)
    return len(events) / elapsed


def _ours(requests: list[spb.IngestRequest], store: str, stream: bool = False) -> float:
    with ThreadedSanctum(store=store) as server:
        return (_bidi if stream else _stream)(server.address, requests)


def _process(run_id: str, n_batches: int, tmp: str) -> tuple[float, float, float]:
    """(Ingest call, IngestStream) events/s on a sanctum process, each on a fresh store, and
    IngestStream events/s on a do-nothing server process (the raw reference for them)."""
    rates = []
    for send in (_stream, _bidi):
        with SanctumProcess(str(Path(tmp) / f"{run_id}-{send.__name__}.sqlite")) as server:
            rates.append(send(server.address, list(batches(original_mix(
                run_id, n_batches=n_batches), BATCH))))
    with NullSanctumProcess() as null:
        raw = _bidi(null.address, list(batches(original_mix(run_id, n_batches=n_batches), BATCH)))
    return rates[0], rates[1], raw


@register("original")
def bench_original(quick: bool) -> list[Row]:
    rounds = 2 if quick else 5
    n_batches = 1 if quick else 3
    raw, ours, ratios = [], [], []
    raw_bidi: list[float] = []
    bidi: list[float] = []
    bidi_ratios: list[float] = []
    sdk: list[float] = []
    proc_call: list[float] = []
    proc_stream: list[float] = []
    proc_raw: list[float] = []
    fixture = fixture_path()
    replay = fixture_requests(fixture) if fixture is not None else "fixture not found"
    replayed: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, NullSanctum() as null:
        for r in range(rounds):
            requests = list(batches(original_mix(f"mix-{r}", n_batches=n_batches), BATCH))
            raw.append(_stream(f"127.0.0.1:{null.port}", requests))
            requests = list(batches(original_mix(f"mix-{r}", n_batches=n_batches), BATCH))
            ours.append(_ours(requests, str(Path(tmp) / f"mix-{r}.sqlite")))
            ratios.append(ours[-1] / raw[-1])
            requests = list(batches(original_mix(f"mix-{r}", n_batches=n_batches), BATCH))
            raw_bidi.append(_bidi(f"127.0.0.1:{null.port}", requests))
            requests = list(batches(original_mix(f"mix-{r}", n_batches=n_batches), BATCH))
            bidi.append(_ours(requests, str(Path(tmp) / f"bidi-{r}.sqlite"), stream=True))
            bidi_ratios.append(bidi[-1] / raw_bidi[-1])
            call, stream, raw_proc = _process(f"proc-{r}", n_batches, tmp)
            proc_call.append(call)
            proc_stream.append(stream)
            proc_raw.append(raw_proc)
            with ThreadedSanctum(store=str(Path(tmp) / f"sdk-{r}.sqlite")) as server:
                sdk.append(_client(server.address, original_mix(f"sdk-{r}", n_batches=n_batches),
                                   f"sdk-{r}", str(Path(tmp) / "spool")))
            if not isinstance(replay, str):
                replayed.append(_ours(replay, str(Path(tmp) / f"fixture-{r}.sqlite")))
    orig = original_rates(fixture, rounds) if fixture is not None else "fixture not found"
    raw_rate, our_rate, ratio = (statistics.median(raw), statistics.median(ours),
                                 statistics.median(ratios))
    mix = f"{BATCH_EVENTS:,}-event 12-env mix"
    proc_ratio = statistics.median(s / c for s, c in zip(proc_stream, proc_call, strict=True))
    proc_raw_ratio = statistics.median(s / r for s, r in zip(proc_stream, proc_raw, strict=True))
    raw_b, bidi_rate, bidi_ratio, sdk_rate = (
        statistics.median(raw_bidi), statistics.median(bidi), statistics.median(bidi_ratios),
        statistics.median(sdk))
    rows = [
        row(f"raw gRPC transport, Ingest call, {mix}", raw_rate, "events/s", "reference", ""),
        row(f"sanctum ingest, Ingest call, {mix}", our_rate, "events/s",
            f"{raw_rate:,.0f}/s raw", ""),
        row("sanctum ingest / raw transport (mix, Ingest call)", ratio * 100, "%",
            f"rounds {min(ratios) * 100:.0f}-{max(ratios) * 100:.0f}%", "", None),
        row(f"raw gRPC transport, IngestStream window {WINDOW}, {mix}", raw_b, "events/s",
            "reference", ""),
        row(f"sanctum ingest, IngestStream window {WINDOW}, {mix}", bidi_rate, "events/s",
            f"{raw_b:,.0f}/s raw, {our_rate:,.0f}/s Ingest call", ""),
        row("sanctum ingest / raw transport (mix, IngestStream)", bidi_ratio * 100, "%",
            f"rounds {min(bidi_ratios) * 100:.0f}-{max(bidi_ratios) * 100:.0f}%", ">= 60%",
            bidi_ratio >= 0.6),
        row(f"sanctum process, Ingest call, {mix}", statistics.median(proc_call), "events/s",
            "reference", ""),
        row(f"sanctum process, IngestStream window {WINDOW}, {mix}",
            statistics.median(proc_stream), "events/s",
            f"x{proc_ratio:.2f} the Ingest call (median of rounds)", ""),
        row(f"raw gRPC transport process, IngestStream window {WINDOW}, {mix}",
            statistics.median(proc_raw), "events/s", "reference", ""),
        row("sanctum process / raw transport process (mix, IngestStream)", proc_raw_ratio * 100,
            "%", "each in its own process, median of rounds", ">= 60%", proc_raw_ratio >= 0.6),
        row(f"TelemetryClient defaults -> sanctum, {mix}", sdk_rate, "events/s",
            f"{bidi_rate:,.0f}/s IngestStream batches", ""),
    ]
    if isinstance(orig, str):
        rows.append(row("original in-process process_event (fixture)", "n/a", "", orig, ""))
    else:
        rows.append(row("original in-process process_event (fixture)",
                        statistics.median(orig["rates"]), "events/s",
                        f"{orig['events']:,} records ({orig['skipped']} unreadable)",
                        "reference"))
    if isinstance(replay, str):
        rows.append(row("sanctum ingest, original fixture replay", "n/a", "", replay, ""))
    else:
        n = sum(len(r.batch.events) for r in replay)
        rep = statistics.median(replayed)
        rows.append(row("sanctum ingest, original fixture replay", rep, "events/s",
                        f"{n:,} events via bridge", ""))
        if not isinstance(orig, str):
            # The original's time for its records, as a rate over our mapped events.
            base = statistics.median(orig["rates"]) * n / orig["events"]
            rows.append(row("fixture replay / original in-process (same records)",
                            rep / base, "x", f"{base:,.0f} records/s", ">= 3x", rep >= 3 * base))
    if not isinstance(orig, str):
        base = statistics.median(orig["rates"])
        rows.append(row("sanctum ingest (mix, Ingest call) / original in-process",
                        our_rate / base, "x", "original on its fixture", "", None))
        rows.append(row("sanctum ingest (mix, IngestStream) / original in-process",
                        bidi_rate / base, "x", "original on its fixture", ">= 3x",
                        bidi_rate >= 3 * base))
        proc_rate = statistics.median(proc_stream)
        rows.append(row("sanctum process (mix, IngestStream) / original in-process",
                        proc_rate / base, "x", "sanctum in its own process, as deployed",
                        ">= 3x", proc_rate >= 3 * base))
        rows.append(row("TelemetryClient -> sanctum (mix) / original in-process",
                        sdk_rate / base, "x", "original on its fixture", "", None))
    return rows
