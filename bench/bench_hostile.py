"""A legitimate producer's ingest latency while a hostile one makes giant snapshots (not a test).

hostile_snapshots: a producer sends a small batch every 20 ms to its run, timing each Ingest
    call. Four subscribers (their own process) watch the run "giant" at 30 Hz. In a hostile
    phase a second producer changes a run HOSTILE_HZ times a second, each batch a decision
    card plus an epoch for each of the run's 256 envs:
    - "budget-filling cards" (watched run): 60 KB cards, just under the budget's share for
      one element, so the watched snapshot is assembled at the full 1 MiB budget and
      trimmed;
    - "maximal cards" (watched run): the largest card the server accepts (1000 heads of
      4 KB actions, 3.8 MB, halved until accepted), left out of the snapshot as oversized;
    - "maximal cards, unwatched run": the same batches to a run no one watches: what such
      batches cost to ingest at all (validation, SQLite write and WAL checkpoint), without
      any snapshot. It is the reference for the snapshots' share of "maximal cards".
    Quiet and hostile phases alternate (ROUNDS times) so all see the same machine load.
    Goal: p99 <= 2x the quiet p99 (the unwatched run is a control, without a goal).

    python -m bench [--quick] hostile_snapshots
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import grpc

from bench import Row, percentile, register, row
from bench.live import SubscriberProcess
from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.sanctum.v2 import sanctum_pb2_grpc
from esper.telemetry.v1 import telemetry_pb2 as tpb
from testkit import SanctumProcess, batches, build_run_events, run_config

GIANT, UNWATCHED, LEGIT = "giant", "giant-unwatched", "legit"
N_ENVS = 256
PERIOD_S = 0.02
HOSTILE_HZ = 4.0
GOAL_RATIO = 2.0
#: Heads of 4 KB actions: a batch just under the 4 MiB receive limit, and a card just
#: under budget // ELEMENT_SHARE (64 KiB).
MAXIMAL, BUDGET_FILLING = 1000, 15
#: (phase name, run, heads, reference phase).
MODES = (
    ("budget-filling cards", GIANT, BUDGET_FILLING, "quiet"),
    ("maximal cards", GIANT, MAXIMAL, "quiet"),
    ("maximal cards, unwatched run", UNWATCHED, MAXIMAL, "quiet"),
)


class Legit(threading.Thread):
    """Sends 8-event batches every PERIOD_S, recording (phase, seconds) per Ingest call."""

    def __init__(self, address: str) -> None:
        super().__init__(daemon=True)
        self.channel = grpc.insecure_channel(address)
        self.stub = sanctum_pb2_grpc.SanctumServiceStub(self.channel)
        self.events = build_run_events(LEGIT, n_batches=3000, n_envs=4)
        self.phase = "warmup"
        self.samples: list[tuple[str, float]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        sent = 0
        next_at = time.monotonic()
        while not self.stop.is_set() and sent < len(self.events):
            chunk = self.events[sent:sent + 8]
            t0 = time.perf_counter()
            self.stub.Ingest(batches(chunk, 8), timeout=30)
            self.samples.append((self.phase, time.perf_counter() - t0))
            sent += len(chunk)
            next_at += PERIOD_S
            self.stop.wait(max(0.0, next_at - time.monotonic()))
        self.channel.close()

    def latencies(self, phase: str) -> list[float]:
        return [s for p, s in self.samples if p == phase]


class Hostile(threading.Thread):
    """Changes `run_id` HOSTILE_HZ times a second while `active` is set: a decision card of
    `heads` 4 KB actions (halved while the server refuses it) and an epoch per env."""

    def __init__(self, address: str, run_id: str) -> None:
        super().__init__(daemon=True)
        self.channel = grpc.insecure_channel(address, options=[
            ("grpc.max_send_message_length", 64 * 1024 * 1024)])
        self.stub = sanctum_pb2_grpc.SanctumServiceStub(self.channel)
        self.run_id = run_id
        self.seq = 1
        self.heads = MAXIMAL
        self.sent = 0
        self.active = threading.Event()
        self.stop = threading.Event()

    def _event(self, **fields: Any) -> tpb.TelemetryEvent:
        ev = tpb.TelemetryEvent(run_id=self.run_id, producer_id="hostile", seq=self.seq,
                                **fields)
        self.seq += 1
        return ev

    def declare(self) -> None:
        cfg = run_config(n_envs=N_ENVS)
        self._send([self._event(event_type=tpb.EVENT_TYPE_TRAINING_STARTED,
                                training_started=tpb.TrainingStartedPayload(config=cfg))])

    def _batch(self) -> list[tpb.TelemetryEvent]:
        card = tpb.DecisionCard(env_id=self.seq % N_ENVS, op=tpb.LIFECYCLE_OP_WAIT)
        for _ in range(self.heads):
            card.heads.add(head=tpb.ACTION_HEAD_OP, action="a" * 4000, probability=0.5)
        out = [self._event(event_type=tpb.EVENT_TYPE_ANALYTICS_SNAPSHOT, env_id=card.env_id,
                           analytics_snapshot=tpb.AnalyticsSnapshotPayload(decision=card))]
        for env in range(N_ENVS):
            out.append(self._event(
                event_type=tpb.EVENT_TYPE_EPOCH_COMPLETED, env_id=env, epoch=self.seq % 1000,
                epoch_completed=tpb.EpochCompletedPayload(val_accuracy=0.5, reward=0.1)))
        return out

    def _send(self, events: list[tpb.TelemetryEvent]) -> bool:
        try:
            self.stub.Ingest(iter([spb.IngestRequest(batch=tpb.EventBatch(events=events))]),
                             timeout=60)
            return True
        except grpc.RpcError as err:
            if err.code() not in (grpc.StatusCode.INVALID_ARGUMENT,
                                  grpc.StatusCode.RESOURCE_EXHAUSTED):
                raise
            self.seq -= len(events)  # refused: nothing applied, reuse the numbers
            return False

    def send_one(self) -> None:
        """One batch now, shrinking the card until the server takes it."""
        while not self._send(self._batch()):
            if self.heads <= 1:
                raise RuntimeError("the server refuses even a one-head decision card")
            self.heads //= 2

    def run(self) -> None:
        next_at = time.monotonic()
        while not self.stop.is_set():
            if not self.active.wait(0.1):
                next_at = time.monotonic()
                continue
            self.send_one()
            self.sent += 1
            next_at += 1.0 / HOSTILE_HZ
            self.stop.wait(max(0.0, next_at - time.monotonic()))
        self.channel.close()


@register("hostile_snapshots")
def bench_hostile_snapshots(quick: bool) -> list[Row]:
    seconds, rounds = (2.0, 2) if quick else (5.0, 4)
    with tempfile.TemporaryDirectory() as tmp, \
            SanctumProcess(str(Path(tmp) / "hostile.sqlite")) as server:
        hostiles = {run: Hostile(server.address, run) for run in (GIANT, UNWATCHED)}
        for h in hostiles.values():
            h.declare()
            h.send_one()  # the runs hold a giant card before anyone watches
            h.start()
        maximal = min(h.heads for h in hostiles.values())  # as the server accepts
        legit = Legit(server.address)
        legit.start()
        sizes: list[int] = []
        with SubscriberProcess(server.address, GIANT, 4, 30.0) as viewers, \
                grpc.insecure_channel(server.address) as ch:
            stub = sanctum_pb2_grpc.SanctumServiceStub(ch)
            legit.phase = "warmup"
            time.sleep(1.0)
            for _ in range(rounds):
                for phase, run, heads, _ref in (("quiet", "", 0, ""), *MODES):
                    hostile = hostiles.get(run)
                    if hostile is not None:
                        hostile.heads = min(heads, maximal)
                        hostile.active.set()
                    legit.phase = phase
                    time.sleep(seconds)
                    if hostile is not None:
                        hostile.active.clear()
                    sizes.append(stub.GetSnapshot(spb.GetSnapshotRequest(run_id=GIANT),
                                                  timeout=30).snapshot.ByteSize())
            viewers.stop()
        legit.stop.set()
        for h in hostiles.values():
            h.stop.set()
        legit.join(30)
        for h in hostiles.values():
            h.join(60)
    p99 = {p: percentile(legit.latencies(p), 0.99) * 1e3
           for p in ("quiet", *(m[0] for m in MODES))}
    quiet = legit.latencies("quiet")
    rows = [
        row("hostile snapshots: legit ingest p50, quiet", percentile(quiet, 0.5) * 1e3, "ms",
            f"{len(quiet)} calls", "", None),
        row("hostile snapshots: legit ingest p99, quiet", p99["quiet"], "ms", "", "", None),
    ]
    for phase, run, heads, _ref in MODES:
        ratio = p99[phase] / p99["quiet"]
        card_mb = min(heads, maximal) * 4000 / 2**20
        calls = f"{len(legit.latencies(phase))} calls, card {card_mb:.2f} MB"
        if run == UNWATCHED:  # the control: no snapshot is built for this run
            rows.append(row(f"hostile snapshots: legit ingest p99, {phase}", p99[phase], "ms",
                            f"{ratio:.2f}x quiet ({calls}): ingest alone", "", None))
            continue
        control = p99["maximal cards, unwatched run"]
        share = f"; {p99[phase] / control:.2f}x unwatched" if heads == MAXIMAL else ""
        rows.append(row(f"hostile snapshots: legit ingest p99, {phase}", p99[phase], "ms",
                        f"{ratio:.2f}x quiet{share} ({calls})", f"<= {GOAL_RATIO:g}x quiet",
                        ratio <= GOAL_RATIO))
    rows.append(row("hostile snapshots: giant run's snapshot size (largest)",
                    max(sizes) / 2**20, "MB", f"{HOSTILE_HZ:g} changes/s, 4 viewers @30 Hz",
                    "<= 1 MiB", max(sizes) <= 2**20))
    return rows
