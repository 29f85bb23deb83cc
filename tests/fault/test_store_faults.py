"""The store cannot write: a really full disk (a small tmpfs filled up), a read-only
filesystem, and writes refused by the OS (RLIMIT_FSIZE on the server process).

Each time: ingest gets UNAVAILABLE or RESOURCE_EXHAUSTED with a message saying nothing
was applied, the snapshot and cursor are exactly as before, reads keep working, and once
the disk can be written again the same batch is accepted and the run ends in the state of
an uninterrupted run (also after a restart on the same store).
"""

from __future__ import annotations

import contextlib
import errno
import os
import resource
import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.sanctum.v2 import sanctum_pb2_grpc
from esper.telemetry.v1 import telemetry_pb2 as tpb
from testkit import (
    SanctumProcess,
    ThreadedSanctum,
    batches,
    build_run_events,
    comparable,
)

pytestmark = pytest.mark.fault

REFUSED = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED)


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A real small filesystem at `path` (root only), unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs (a real, small disk) needs root")
    path.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs",
                           str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def remount(path: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(path)], check=True,
                   capture_output=True)


def fill(directory: Path) -> Path:
    """Write a filler file until the filesystem is full (ENOSPC); returns it."""
    filler = directory / "filler"
    chunk = b"\0" * 4096
    with filler.open("wb", buffering=0) as fh:
        while True:
            try:
                fh.write(chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
                return filler


def refused(server: ThreadedSanctum, events: list[tpb.TelemetryEvent]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        server.ingest(events, batch_size=len(events))
    return err.value


def reference(run_id: str, events: list[tpb.TelemetryEvent]) -> spb.SanctumSnapshot:
    with ThreadedSanctum() as ref:
        ref.ingest(events)
        return comparable(ref.snapshot(run_id))


def test_disk_full_refuses_changes_nothing_and_recovers(tmp_path: Path) -> None:
    events = build_run_events("full", n_batches=24)
    head, tail = events[:40], events[40:]
    with tmpfs(tmp_path / "disk", "1m") as disk:
        store = str(disk / "s.sqlite")
        with ThreadedSanctum(store=store) as server:
            server.ingest(head)
            before, cursor = comparable(server.snapshot("full")), server.cursor("full")
            filler = fill(disk)
            for _attempt in range(2):  # and it stays refused while the disk is full
                err = refused(server, tail[:64])
                assert err.code() in REFUSED, err.details()
                assert "persist" in err.details() and "resend" in err.details()
                assert comparable(server.snapshot("full")) == before, "partial state"
                assert server.cursor("full") == cursor
            with server.channel() as ch:  # reads and the run list keep working
                runs = server.stub(ch).ListRuns(spb.ListRunsRequest(), timeout=5).runs
            assert [r.run_id for r in runs] == ["full"]

            filler.unlink()  # space returns
            assert server.ingest(tail[:64]).events_applied == 64
            assert server.ingest(tail[64:]).events_applied == len(tail) - 64
            final = comparable(server.snapshot("full"))
        assert final == reference("full", events)
        with ThreadedSanctum(store=store) as restarted:  # the store survived the ENOSPC
            assert comparable(restarted.snapshot("full")) == final


def test_read_only_store_is_a_clear_startup_error_then_recovers(tmp_path: Path) -> None:
    events = build_run_events("ro", n_batches=3)
    with tmpfs(tmp_path / "disk", "4m") as disk:
        store = str(disk / "s.sqlite")
        with ThreadedSanctum(store=store) as server:
            server.ingest(events)
            before = comparable(server.snapshot("ro"))
        remount(disk, "ro")
        proc = SanctumProcess(store)
        with pytest.raises(RuntimeError) as err:
            proc.start()
        said = str(err.value)
        assert "exited with 2" in said and "store" in said, said
        assert "Traceback" not in said
        remount(disk, "rw")
        proc.start()
        try:
            with grpc.insecure_channel(proc.address) as ch:
                snap = sanctum_pb2_grpc.SanctumServiceStub(ch).GetSnapshot(
                    spb.GetSnapshotRequest(run_id="ro"), timeout=10).snapshot
            assert comparable(snap) == before
        finally:
            assert proc.terminate() == 0


def _largest_store_file(store: Path) -> int:
    sizes = [p.stat().st_size for p in store.parent.glob(store.name + "*")]
    return max(sizes)


def test_os_refusing_writes_mid_run_then_allowing_them(tmp_path: Path) -> None:
    """RLIMIT_FSIZE on the running server: every write past the current file sizes fails
    with EFBIG (no root needed). Lifting the limit lets the same batch in."""
    events = build_run_events("quota", n_batches=20)
    head, tail = events[:30], events[30:]
    store = tmp_path / "q.sqlite"
    proc = SanctumProcess(str(store))
    proc.start()
    assert proc.proc is not None
    pid = proc.proc.pid
    unlimited = resource.prlimit(pid, resource.RLIMIT_FSIZE)
    try:
        with grpc.insecure_channel(proc.address) as ch:
            stub = sanctum_pb2_grpc.SanctumServiceStub(ch)

            def snapshot() -> spb.SanctumSnapshot:
                return comparable(stub.GetSnapshot(spb.GetSnapshotRequest(run_id="quota"),
                                                   timeout=10).snapshot)

            def cursor() -> int:
                return stub.GetResumeCursor(spb.GetResumeCursorRequest(
                    run_id="quota", producer_id="trainer-0"), timeout=10).cursors[0].last_seq

            stub.Ingest(batches(head, 64), timeout=10)
            before, seq = snapshot(), cursor()
            resource.prlimit(pid, resource.RLIMIT_FSIZE,
                             (_largest_store_file(store), unlimited[1]))
            with pytest.raises(grpc.RpcError) as err:
                stub.Ingest(batches(tail[:64], 64), timeout=10)
            assert err.value.code() in REFUSED, err.value.details()
            assert "persist" in err.value.details() and "resend" in err.value.details()
            assert snapshot() == before and cursor() == seq
            assert proc.proc.poll() is None, "the server must survive (SIGXFSZ is ignored)"

            resource.prlimit(pid, resource.RLIMIT_FSIZE, unlimited)
            assert stub.Ingest(batches(tail, 64), timeout=10).events_applied == len(tail)
            final = snapshot()
        assert final == reference("quota", events)
    finally:
        proc.kill()
    proc.start()  # kill -9 after the episode: the store replays to the same state
    try:
        with grpc.insecure_channel(proc.address) as ch:
            again = sanctum_pb2_grpc.SanctumServiceStub(ch).GetSnapshot(
                spb.GetSnapshotRequest(run_id="quota"), timeout=10).snapshot
        assert comparable(again) == final
    finally:
        proc.kill()
