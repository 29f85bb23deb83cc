"""The ceiling bench's server leaves out exactly the steps it is told to (and no others), so
its rates bound what it says they bound."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import grpc
import pytest

from bench.bench_ceiling import CeilingProcess
from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.sanctum.v2 import sanctum_pb2_grpc
from testkit import batches, build_run_events


def _events() -> list:
    """A valid run but for one EPOCH_COMPLETED whose reward is NaN (a validation rule)."""
    events = build_run_events("ceil", n_batches=1)
    epoch = next(e for e in events if e.HasField("epoch_completed"))
    epoch.epoch_completed.reward = math.nan
    return events


def _run(tmp_path: Path, skip: str) -> tuple[spb.IngestResponse | grpc.RpcError,
                                              spb.SanctumSnapshot | grpc.RpcError, int]:
    """(Ingest's reply or error, GetSnapshot's, batches rows in the store)."""
    store = tmp_path / f"{skip or 'all'}.sqlite"
    events = _events()
    with CeilingProcess(str(store), skip) as server, \
            grpc.insecure_channel(server.address) as ch:
        stub = sanctum_pb2_grpc.SanctumServiceStub(ch)
        try:
            reply: spb.IngestResponse | grpc.RpcError = stub.Ingest(
                batches(events, len(events)), timeout=30)
        except grpc.RpcError as exc:
            reply = exc
        try:
            snap: spb.SanctumSnapshot | grpc.RpcError = stub.GetSnapshot(
                spb.GetSnapshotRequest(run_id="ceil"), timeout=10).snapshot
        except grpc.RpcError as exc:
            snap = exc
    with sqlite3.connect(store) as db:
        rows = db.execute("SELECT COUNT(*) FROM batches").fetchone()[0]
    return reply, snap, rows


@pytest.mark.parametrize("skip", ["", "validate", "validate,store", "validate,store,apply"])
def test_ceiling_server_removes_the_named_steps_only(tmp_path: Path, skip: str) -> None:
    n = len(_events())
    reply, snap, rows = _run(tmp_path, skip)
    if not skip:  # the whole path: the NaN is refused, nothing of the batch kept
        assert isinstance(reply, grpc.RpcError), reply
        assert reply.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert rows == 0
        return
    assert isinstance(reply, spb.IngestResponse) and reply.events_applied == n, reply
    assert rows == (0 if "store" in skip else 1)
    if "apply" in skip:
        assert isinstance(snap, grpc.RpcError) and snap.code() == grpc.StatusCode.NOT_FOUND
    else:
        assert isinstance(snap, spb.SanctumSnapshot) and snap.delivery.events_applied == n


def test_ceiling_server_refuses_an_unknown_step(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="unknown steps"):
        CeilingProcess(str(tmp_path / "x.sqlite"), "validate,persist").start()
