"""Telemetry client without a server: wire format, spool, drop policy, file mode, seq,
emit() robustness, bounded close, fork and signal behaviour."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_client import NullTelemetry, TelemetryClient, TelemetryConfig
from esper_client.buffer import OutBuffer
from esper_client.policy import DropPolicy
from esper_client.spool import Spool
from esper_client.wire import encode_batch, encode_ingest_request, varint
from esper_common.eventfile import read_batches
from esper_common.events import ESSENTIAL_TYPES
from testkit import wait_for

ET = tpb.EventType
REPO = Path(__file__).resolve().parents[2]


def epoch_event(i: int = 0) -> tpb.TelemetryEvent:
    return tpb.TelemetryEvent(
        event_type=ET.EVENT_TYPE_EPOCH_COMPLETED, env_id=0, epoch=i,
        epoch_completed=tpb.EpochCompletedPayload(val_accuracy=0.5, reward=0.1 * i),
    )


def batch_event(i: int = 0) -> tpb.TelemetryEvent:
    return tpb.TelemetryEvent(
        event_type=ET.EVENT_TYPE_BATCH_EPOCH_COMPLETED, batch=i,
        batch_epoch_completed=tpb.BatchEpochCompletedPayload(batch_idx=i),
    )


def item(seq: int, etype: int = ET.EVENT_TYPE_EPOCH_COMPLETED) -> tuple[int, int, bytes]:
    """A buffered event as the sender keeps it: (seq, type, serialized bytes)."""
    ev = epoch_event(seq) if etype == ET.EVENT_TYPE_EPOCH_COMPLETED else batch_event(seq)
    ev.event_type, ev.seq = etype, seq
    return (seq, etype, ev.SerializeToString())


def file_config(tmp_path: Path, **kw: Any) -> TelemetryConfig:
    return TelemetryConfig(None, run_id="run-f", producer_id="p0",
                           file_path=str(tmp_path / "run.events"),
                           spool_dir=str(tmp_path / "spool"), **kw)


def file_events(path: Path) -> list[tpb.TelemetryEvent]:
    return [ev for batch in read_batches(path) for ev in batch.events]


def dead_target() -> str:
    """A loopback address with nothing listening (bound, then closed)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


# -- wire, spool, policy, buffer --------------------------------------------------------------

def test_hand_encoded_batches_are_valid_protobuf() -> None:
    events = [epoch_event(i) for i in range(3)]
    for i, ev in enumerate(events, 1):
        ev.seq = i
    events.append(tpb.TelemetryEvent(seq=4, epoch_completed=tpb.EpochCompletedPayload(
        val_loss=1.0, seeds=[tpb.SeedTelemetry(slot_id="r0c0" * 100)])))
    drops = tpb.ProducerDrops(run_id="r", producer_id="p", dropped_total=300)
    data = encode_batch([e.SerializeToString() for e in events], drops.SerializeToString())
    assert tpb.EventBatch.FromString(data) == tpb.EventBatch(events=events, drops=[drops])
    req = spb.IngestRequest.FromString(encode_ingest_request(data))
    assert list(req.batch.events) == events
    assert [varint(n) for n in (0, 127, 128, 300)] == [b"\x00", b"\x7f", b"\x80\x01", b"\xac\x02"]
    assert [varint(n) for n in (16383, 16384)] == [b"\xff\x7f", b"\x80\x80\x01"]


def test_spool_round_trip_and_segment_deletion(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s", segment_bytes=200)
    items = []
    for i in range(1, 31):
        ev = epoch_event(i)
        ev.seq = i
        items.append((i, ev.event_type, ev.SerializeToString()))
    for start in range(0, 30, 5):
        spool.append(items[start:start + 5])
    assert spool.unread_events == 30 and spool.segment_count > 1
    segments = sorted((tmp_path / "s").iterdir())
    # Each segment is a valid event file on its own.
    assert [e.seq for seg in segments for e in file_events(seg)] == list(range(1, 31))
    got = []
    while chunk := spool.read():
        got += chunk
    assert got == items and spool.unread_events == 0 and spool.unread_bytes == 0
    spool.ack_through(12)
    assert 0 < spool.segment_count < len(segments)
    spool.ack_through(30)
    assert spool.segment_count == 0
    spool.close()
    assert not (tmp_path / "s").exists()


def test_drop_policy_keeps_essential_and_thins_high_rate() -> None:
    policy = DropPolicy(keep_every=4)
    epoch = ET.EVENT_TYPE_EPOCH_COMPLETED
    assert all(policy.keep(epoch, 0.5) for _ in range(10)) and policy.dropped == 0
    thinned = [policy.keep(epoch, 1.5) for _ in range(12)]
    assert thinned.count(True) == 3 and policy.dropped == 9
    assert all(policy.keep(t, 5.0) for t in ESSENTIAL_TYPES)
    assert not policy.keep(ET.EVENT_TYPE_PPO_UPDATE_COMPLETED, 2.0)
    assert policy.dropped == 10


def test_buffer_spills_in_order_with_bounded_memory(tmp_path: Path) -> None:
    buf = OutBuffer(memory_limit=10, spool=Spool(tmp_path / "s", 1024),
                    spool_max_bytes=10**9, policy=DropPolicy(10), spill_chunk=4)
    for seq in range(1, 101):
        buf.push(item(seq))
        assert len(buf.mem) <= 10
    assert len(buf) == 100 and buf.spooled > 80
    seen = []
    while len(buf):
        taken = buf.take(7)
        seen += [s for s, _, _ in taken]
        buf.ack_through(taken[-1][0])
        if len(seen) < 30:  # newer events keep arriving while the spool drains
            buf.push(item(1000 + len(seen)))
    assert seen[:100] == list(range(1, 101))
    assert seen[100:] == sorted(seen[100:])
    assert buf.spool.segment_count == 0


def test_buffer_extend_and_take_keep_order_and_bound_memory(tmp_path: Path) -> None:
    """extend() (the sender's batched push) spills like push() once memory is full, and
    take()'s move-everything path returns the same events, after `skip`, as the slow path."""
    buf = OutBuffer(memory_limit=10, spool=Spool(tmp_path / "s", 1024),
                    spool_max_bytes=10**9, policy=DropPolicy(10), spill_chunk=4)
    buf.extend([item(s) for s in range(1, 6)])  # fits: stays in memory
    assert list(buf.mem) == [item(s) for s in range(1, 6)] and buf.spooled == 0
    assert [s for s, _, _ in buf.take(4, skip=1)] == [2, 3, 4, 5]  # fast path: all moved
    assert len(buf.head) == 5 and not buf.mem
    buf.extend([item(s) for s in range(6, 31)])  # overflows: spills oldest first
    assert len(buf.mem) <= 10 and buf.spooled > 0
    assert [s for s, _, _ in buf.take(100, skip=5)] == list(range(6, 31))
    assert buf.ack_through(30) == 30 and len(buf) == 0


def test_buffer_with_unwritable_spool_keeps_essential(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    buf = OutBuffer(memory_limit=5, spool=Spool(blocker / "spool", 1024),
                    spool_max_bytes=10**6, policy=DropPolicy(10))
    for seq in range(1, 41):
        essential = seq % 10 == 0
        buf.push(item(seq, ET.EVENT_TYPE_BATCH_EPOCH_COMPLETED if essential else
                      ET.EVENT_TYPE_EPOCH_COMPLETED))
    kept = [s for s, _, _ in buf.drain_all()]
    assert {10, 20, 30, 40} <= set(kept)
    assert len(kept) + buf.dropped == 40


# -- the client in file mode -------------------------------------------------------------------

def test_file_mode_round_trip_with_seq_run_and_timestamps(tmp_path: Path) -> None:
    cfg = file_config(tmp_path)
    client = TelemetryClient(cfg)
    client.start()
    sent = [epoch_event(i) if i % 5 else batch_event(i) for i in range(500)]
    for ev in sent:
        client.emit(ev)
    client.close()
    got = file_events(Path(cfg.file_path or ""))
    assert [e.seq for e in got] == list(range(1, 501))
    assert all(e.run_id == "run-f" and e.producer_id == "p0" for e in got)
    assert all(e.timestamp.seconds > 1_600_000_000 for e in got)
    assert [e.epoch_completed.reward for e in got] == [e.epoch_completed.reward for e in sent]
    stats = client.stats()
    assert stats["emitted"] == stats["acked"] == 500
    assert stats["dropped"] == stats["invalid"] == stats["pending"] == 0


def test_caller_set_fields_are_kept(tmp_path: Path) -> None:
    cfg = file_config(tmp_path)
    with TelemetryClient(cfg) as client:
        ev = epoch_event()
        ev.run_id, ev.seq = "other-run", 41
        ev.timestamp.FromSeconds(1_700_000_000)
        client.emit(ev)
        client.emit(epoch_event())
    got = file_events(Path(cfg.file_path or ""))
    assert [(e.run_id, e.seq, e.timestamp.seconds) for e in got][0] == ("other-run", 41,
                                                                          1_700_000_000)
    assert got[1].seq == 42


def test_emit_never_raises_and_counts_bad_input(tmp_path: Path) -> None:
    client = TelemetryClient(file_config(tmp_path))
    client.start()
    client.emit(tpb.TelemetryEvent(event_type=ET.EVENT_TYPE_EPOCH_COMPLETED))  # no payload
    client.emit(tpb.TelemetryEvent(event_type=ET.EVENT_TYPE_PPO_UPDATE_COMPLETED,
                                   epoch_completed=tpb.EpochCompletedPayload()))  # wrong payload
    client.emit(None)  # type: ignore[arg-type]  # bad input on purpose
    client.emit({"event_type": 2})  # type: ignore[arg-type]  # bad input on purpose
    client.emit(epoch_event())
    client.close()
    client.close()  # idempotent
    client.emit(epoch_event())  # after close
    stats = client.stats()
    assert (stats["invalid"], stats["late"], stats["acked"]) == (4, 1, 1)


def test_concurrent_emitters_get_unique_in_order_seqs(tmp_path: Path) -> None:
    cfg = file_config(tmp_path)
    client = TelemetryClient(cfg)
    client.start()

    def work() -> None:
        for i in range(2000):
            client.emit(epoch_event(i))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    client.close()
    assert [e.seq for e in file_events(Path(cfg.file_path or ""))] == list(range(1, 8001))


def test_events_emitted_before_start_are_delivered_and_close_without_start(tmp_path: Path) -> None:
    cfg = file_config(tmp_path)
    client = TelemetryClient(cfg)
    assert client._thread is None and client._sender._sink is None  # nothing started yet
    for i in range(10):
        client.emit(epoch_event(i))
    client.close()  # never started: delivers inline
    assert len(file_events(Path(cfg.file_path or ""))) == 10


def test_null_telemetry_has_the_same_surface() -> None:
    null = NullTelemetry()
    with null:
        null.emit(epoch_event())
    null.close(1.0)
    assert null.stats() == {}
    for name in ("start", "emit", "close", "stats"):
        assert callable(getattr(TelemetryClient, name)) and callable(getattr(null, name))


def test_config_validation_is_clear() -> None:
    with pytest.raises(ValueError, match="target"):
        TelemetryConfig(None, run_id="r", producer_id="p")
    with pytest.raises(ValueError, match="run_id"):
        TelemetryConfig("h:1", run_id="", producer_id="p")
    with pytest.raises(ValueError, match="host:port"):
        TelemetryConfig("nohost", run_id="r", producer_id="p")
    with pytest.raises(ValueError, match="tls_ca"):
        TelemetryConfig("h:1", run_id="r", producer_id="p", tls_ca="/nonexistent/ca.pem")
    with pytest.raises(ValueError, match="batch_max_events"):
        TelemetryConfig("h:1", run_id="r", producer_id="p", batch_max_events=0)


# -- no server ---------------------------------------------------------------------------------

def test_no_server_emit_is_non_blocking_and_close_is_bounded(tmp_path: Path) -> None:
    cfg = TelemetryConfig(dead_target(), run_id="run-x", producer_id="p0",
                          spool_dir=str(tmp_path / "spool"), memory_buffer_events=100,
                          backoff_initial_s=0.05, backoff_max_s=0.2)
    client = TelemetryClient(cfg)
    client.start()
    for i in range(3000):
        client.emit(epoch_event(i) if i % 100 else batch_event(i))
    wait_for(lambda: client.stats()["errors"] >= 1 and client.stats()["spooled"] > 0,
             what="a failed connect and spooling")
    stats = client.stats()
    assert stats["errors"] >= 1 and stats["acked"] == 0
    assert stats["spooled"] > 0 and len(client._sender.buffer.mem) <= 100
    started = time.monotonic()
    client.close(timeout=1.0)
    assert time.monotonic() - started < 6.0  # bounded: timeout + join slack, never hangs
    stats = client.stats()
    assert stats["undelivered"] == 3000 and stats["dropped"] == 0
    saved = file_events(cfg.undelivered_path())
    assert [e.seq for e in saved] == list(range(1, 3001))
    assert not cfg.spool_path().exists()  # spool segments removed once saved


# -- process-level behaviour ---------------------------------------------------------------------

def assert_inert_in_fork(client: TelemetryClient, event: tpb.TelemetryEvent) -> None:
    """Fork: in the child, emit() counts `event` as late and start() refuses."""
    pid = os.fork()
    if pid == 0:  # child: must not use the parent's sender/channel
        code = 0
        try:
            client.emit(event)
            if client.stats()["late"] != 1:
                code = 3
            try:
                client.start()
                code = 4
            except RuntimeError:
                pass
        except BaseException:
            code = 5
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_forked_child_gets_an_inert_client(tmp_path: Path) -> None:
    cfg = file_config(tmp_path)
    client = TelemetryClient(cfg)
    client.start()
    client.emit(epoch_event())
    assert_inert_in_fork(client, epoch_event())
    client.emit(epoch_event())
    client.close()
    assert [e.seq for e in file_events(Path(cfg.file_path or ""))] == [1, 2]


SCRIPT = textwrap.dedent("""
    import os, signal, sys, time
    from esper.telemetry.v1 import telemetry_pb2 as tpb
    from esper_client import TelemetryClient, TelemetryConfig, install_signal_flush
    path, mode = sys.argv[1], sys.argv[2]
    client = TelemetryClient(TelemetryConfig(None, run_id="r", producer_id="p", file_path=path,
                                             flush_interval_s=5.0))
    client.start()
    def final(signum):
        client.emit(tpb.TelemetryEvent(event_type=tpb.EVENT_TYPE_TRAINING_COMPLETED,
            training_completed=tpb.TrainingCompletedPayload(status="interrupted")))
    if mode == "signal":
        install_signal_flush(client, timeout=5.0, on_signal=final)
    for i in range(300):
        client.emit(tpb.TelemetryEvent(event_type=tpb.EVENT_TYPE_EPOCH_COMPLETED,
                                       epoch_completed=tpb.EpochCompletedPayload(reward=i)))
    if mode == "signal":
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(10)
        sys.exit(7)  # not reached: SIGTERM's default action ends the process
""")


@pytest.mark.parametrize("mode", ["signal", "atexit"])
def test_flush_on_sigterm_and_at_exit(tmp_path: Path, mode: str) -> None:
    path = tmp_path / "out.events"
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(path), mode], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    expected_rc = -15 if mode == "signal" else 0
    assert proc.returncode == expected_rc, proc.stderr
    events = file_events(path)
    n = 301 if mode == "signal" else 300
    assert [e.seq for e in events] == list(range(1, n + 1))
    if mode == "signal":
        assert events[-1].training_completed.status == "interrupted"
