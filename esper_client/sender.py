"""The background sender: drains emit()'s queue, batches, streams, acknowledges, resumes.

Runs in its own thread (TelemetryClient.start) and is the only code that touches the gRPC
channel. It keeps one IngestStream open and writes batches to it without waiting, up to
`max_unacked_batches` unacknowledged; each ack means sanctum validated and persisted that
batch, so its events are then forgotten. Against a sanctum without IngestStream (it answers
UNIMPLEMENTED) each send is an Ingest call of up to `max_batches_per_call` batches whose
response acknowledges them all. On a transport error the sender drops the channel, waits
(exponential backoff with jitter), asks GetResumeCursor and resends everything after the
cursor; sanctum applies by (run, producer, seq), so resends are never applied twice.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_client.buffer import OutBuffer
from esper_client.config import TelemetryConfig
from esper_client.deferred import Deferred
from esper_client.policy import DropPolicy
from esper_client.sinks import FileSink, GrpcSink, Sink, SinkError
from esper_client.spool import Item, Spool
from esper_client.window import Window
from esper_client.wire import encode_batch, encode_ingest_request
from esper_common.channel import ChannelConfig
from esper_common.diagnose import tls_problem

log = logging.getLogger("esper_client")
_MAX_DRAIN = 100_000


@dataclass
class SenderStats:
    """Counters owned by the sender thread (read racily by stats(); ints are atomic)."""

    sent: int = 0  # events put on the wire, resends included
    resent: int = 0  # events sent again after a failed attempt
    acked: int = 0  # events confirmed by sanctum (or written to the event file)
    rejected: int = 0  # events sanctum (or the local size check) refused as invalid
    diverted: int = 0  # events written to the fallback file after credentials were refused
    undelivered: int = 0  # events left at close and saved to the undelivered file
    lost: int = 0  # events that could not even be saved at close
    reconnects: int = 0  # recoveries after one or more failed attempts
    errors: int = 0  # failed attempts
    batches: int = 0  # EventBatch messages delivered
    calls: int = 0  # successful Ingest streams (or file writes)
    #: Events sanctum answered "already applied" although this process sent them for the
    #: first time: another writer holds this producer id, and these events were NOT applied.
    duplicate: int = 0
    #: Events sanctum already held with other content for their seq (same cause).
    conflicting: int = 0


class Sender:
    """Owns the outbox and the sink; `run()` is the thread body."""

    def __init__(
        self, cfg: TelemetryConfig, ingress: deque[tuple[tpb.TelemetryEvent, int] | Deferred],
        wake: threading.Event,
        ingress_dropped: Callable[[], int],
    ) -> None:
        self.cfg = cfg
        self.stats = SenderStats()
        self.buffer = OutBuffer(
            cfg.memory_buffer_events, Spool(cfg.spool_path(), cfg.spool_segment_bytes),
            cfg.spool_max_bytes, DropPolicy(cfg.thin_keep_every), spill_chunk=cfg.batch_max_events,
        )
        self._ingress = ingress
        self._wake = wake
        self._ingress_dropped = ingress_dropped
        self._deadline: float | None = None
        self._sink: Sink | None = None
        self._need_cursor = True
        self._connected_once = False
        self._failures = 0
        self._next_attempt = 0.0
        self._max_attempted_seq = 0
        #: Sanctum's cursor for this producer when we first connected (see
        #: _check_startup_cursor); 0 once checked.
        self._startup_cursor = 0
        self._drops_reported = 0
        self._logged: set[str] = set()
        #: True while the sender waits with nothing to send: emit() then wakes it (set and
        #: read under the GIL; a stale read costs at most one flush_interval_s).
        self.idle = False
        self._last_send = -1.0
        self._window = Window(cfg.max_unacked_batches)
        #: Whether to send on IngestStream (off for an event file or an older sanctum).
        self._streaming = cfg.ingest_stream and cfg.target is not None

    # -- control ------------------------------------------------------------------------
    def request_close(self, deadline: float) -> None:
        self._deadline = deadline
        self._wake.set()

    @property
    def dropped(self) -> int:
        return self._ingress_dropped() + self.buffer.dropped

    def run(self) -> None:
        """Thread body: never raises (a crash is logged and leftovers are still saved)."""
        try:
            self._sink = self._make_sink()
            self._loop()
        except BaseException:
            log.exception("telemetry sender crashed; saving what is buffered")
        finally:
            self._finish()

    def _make_sink(self) -> Sink:
        if self.cfg.target is None:
            assert self.cfg.file_path is not None
            return FileSink(self.cfg.file_path)
        return GrpcSink(self.cfg.target, self.cfg.token, self.cfg.tls_ca)

    def _loop(self) -> None:
        while True:
            if self._deadline is None:
                self._wait_for_work()
            self._drain()
            if time.monotonic() >= self._next_attempt:
                if self._streaming:
                    self._pump_stream()
                else:
                    self._pump()
            deadline = self._deadline
            if deadline is None:
                continue
            idle = not len(self.buffer) and not self._ingress and not self._drops_pending()
            now = time.monotonic()
            if idle or now >= deadline:
                return
            wait = min(self._next_attempt, deadline) - now
            if wait <= 0 and self._window.batches:  # acks wake us (_work_ready)
                self._work_ready()
                wait = min(deadline - now, self.cfg.flush_interval_s)
            if wait > 0:
                self._wake.wait(wait)
                self._wake.clear()

    def _wait_for_work(self) -> None:
        """Adaptive flush (see TelemetryConfig.send_gap_s): coalesce for what is left of the
        gap since the last send, then sleep until emit() wakes an idle sender (or the tick)."""
        now = time.monotonic()
        gap_left = self._last_send + self.cfg.send_gap_s - now
        if gap_left > 0:
            time.sleep(gap_left)
        if now < self._next_attempt:  # backing off: emits must not wake us one by one
            self._wake.wait(min(self.cfg.flush_interval_s, self._next_attempt - now))
            self._wake.clear()
            return
        self.idle = True  # before looking: an emit() after this line wakes us
        if not self._ingress and not self._work_ready():
            self._wake.wait(self.cfg.flush_interval_s)
        self.idle = False
        self._wake.clear()

    def _work_ready(self) -> bool:
        """Whether anything can be sent now, or an ack (or the stream's end) is waiting."""
        win = self._window
        stream = win.stream
        if stream is None:
            return bool(len(self.buffer))
        if stream.error is not None:
            return True
        sendable = win.room > 0 and len(self.buffer) > win.events
        # Waiting with nothing to send: an ack after this line wakes us (stats, close, a
        # full window). With more to send, acks are taken at that send, with no wake-up.
        stream.wake_on_ack = not sendable
        return sendable or stream.has_acks

    # -- moving events ------------------------------------------------------------------
    def _drain(self) -> None:
        """Serialize what emit() queued and append it to the outbox."""
        ingress, push, limit = self._ingress, self.buffer.push, self.cfg.max_event_bytes
        run_id, producer_id = self.cfg.run_id, self.cfg.producer_id
        for _ in range(_MAX_DRAIN):
            try:
                item = ingress.popleft()
            except IndexError:
                return
            if isinstance(item, Deferred):
                emitted_ns = item.emitted_ns
                try:
                    event = item.event()
                except Exception as exc:  # a typed emitter or log() given an unusable value
                    self._reject_locally(f"cannot build event seq={item.seq}: {exc!r}")
                    continue
            else:
                event, emitted_ns = item
            try:
                if not event.run_id:
                    event.run_id = run_id
                if not event.producer_id:
                    event.producer_id = producer_id
                if not event.HasField("timestamp"):
                    ts = event.timestamp
                    ts.seconds, ts.nanos = divmod(emitted_ns, 1_000_000_000)
                data = event.SerializeToString()
            except Exception as exc:
                self._reject_locally(f"cannot encode event seq={event.seq}: {exc}")
                continue
            if len(data) > limit:
                self._reject_locally(f"event seq={event.seq} is {len(data)} bytes (> {limit})")
                continue
            push((event.seq, event.event_type, data))

    def _pump(self) -> None:
        """Send until the outbox is empty, a failure schedules a retry, or close is due."""
        per_call = self.cfg.batch_max_events * self.cfg.max_batches_per_call
        while True:
            if self._deadline is not None and time.monotonic() >= self._deadline:
                return
            if not self._resume():
                return
            assert self._sink is not None
            items = self.buffer.take(per_call)
            total_dropped = self.dropped
            if not items and total_dropped <= self._drops_reported:
                return
            drops = self._drops_bytes(total_dropped)
            chunks = self._chunk(items)
            batches = [encode_batch((it[2] for it in c), drops) for c in chunks]
            if not batches:
                batches = [encode_batch((), drops)]
            resent = self._count_attempt(items)
            self._check_startup_cursor(items)
            self._last_send = time.monotonic()
            try:
                reply = self._sink.send(batches, self._timeout())
            except SinkError as err:
                self._on_failure(err, chunks)
                return
            self._on_success(items, len(batches), total_dropped)
            if reply is not None:
                self._on_reply(reply, resent)
            self._drain()
            if (len(self.buffer) < per_call and self._deadline is None
                    and time.monotonic() - self._last_send < self.cfg.send_gap_s):
                return  # not a backlog: coalesce until the gap is over (_wait_for_work)

    def _resume(self) -> bool:
        """Read sanctum's cursor when due (after connecting or a failure); False on failure."""
        if not self._need_cursor:
            return True
        assert self._sink is not None
        try:
            cursor = self._sink.cursor(self.cfg.run_id, self.cfg.producer_id, self._timeout())
        except SinkError as err:
            self._on_failure(err, [])
            return False
        self._on_cursor(cursor)
        return True

    def _pump_stream(self) -> None:
        """As `_pump`, on the IngestStream: settle acks, send what the window allows."""
        win, per_batch = self._window, self.cfg.batch_max_events
        while True:
            if self._deadline is not None and time.monotonic() >= self._deadline:
                return
            if not self._resume():
                return
            if win.stream is None:
                assert isinstance(self._sink, GrpcSink)
                win.open(self._sink.open_stream(self._wake), self._drops_reported)
            if not self._settle() or win.room <= 0:
                return
            items = self.buffer.take(win.room * per_batch, skip=win.events)
            total_dropped = self.dropped
            if not items and total_dropped <= win.drops_sent:
                return
            drops = self._drops_bytes(total_dropped)
            chunks = self._chunk(items) or [[]]
            self._check_startup_cursor(items)
            self._last_send = now = time.monotonic()
            for n, chunk in enumerate(chunks):
                resent = self._count_attempt(chunk)
                request = encode_ingest_request(encode_batch((it[2] for it in chunk), drops))
                win.send(request, chunk, resent, total_dropped, now, n == len(chunks) - 1)
            self._drain()
            if (len(self.buffer) - win.events < per_batch and self._deadline is None
                    and time.monotonic() - self._last_send < self.cfg.send_gap_s):
                return  # not a backlog: coalesce until the gap is over (_wait_for_work)

    def _settle(self) -> bool:
        """Take the stream's acks in order; on its failure (or no ack in time) drop it and
        handle the failure as `_pump` does. False when the stream is gone."""
        win = self._window
        assert win.stream is not None
        err = win.stream.error  # read before the acks: every ack before it is queued
        for ack in win.stream.acks():
            if not win.batches or ack.batch != win.batches[0].number:
                err = SinkError("transient", f"sanctum acknowledged batch {ack.batch} of the "
                                "stream out of order; resuming from its cursor")
                break
            batch = win.pop()
            self._on_success(batch.chunk, 1, batch.dropped, calls=int(batch.ends_send))
            self._on_reply(ack, batch.resent)
        else:
            if (err is None and win.batches
                    and time.monotonic() - win.batches[0].sent_at > self.cfg.rpc_timeout_s):
                err = SinkError("transient", "no acknowledgement from sanctum within "
                                f"{self.cfg.rpc_timeout_s:g} s")
        if err is None:
            return True
        chunks = win.reset()
        if not isinstance(err, SinkError):
            err = SinkError("transient", str(err))
        if err.kind == "unimplemented":
            self._streaming = False
            log.info("telemetry: sanctum %s has no IngestStream (%s); using Ingest calls",
                     self.cfg.target, err)
        else:
            self._on_failure(err, chunks)
        return False

    def _chunk(self, items: list[Item]) -> list[list[Item]]:
        """Split into batches bounded by event count and serialized bytes."""
        chunks: list[list[Item]] = []
        cur: list[Item] = []
        size = 0
        for item in items:
            n = len(item[2]) + 6
            full = len(cur) >= self.cfg.batch_max_events or size + n > self.cfg.batch_max_bytes
            if cur and full:
                chunks.append(cur)
                cur, size = [], 0
            cur.append(item)
            size += n
        if cur:
            chunks.append(cur)
        return chunks

    # -- outcomes -----------------------------------------------------------------------
    def _count_attempt(self, items: list[Item]) -> int:
        """Count a send; returns how many of `items` were sent before (resends)."""
        self.stats.sent += len(items)
        resent = 0
        if items and items[0][0] <= self._max_attempted_seq:
            resent = sum(1 for it in items if it[0] <= self._max_attempted_seq)
            self.stats.resent += resent
        if items:
            self._max_attempted_seq = max(self._max_attempted_seq, items[-1][0])
        return resent

    def _on_reply(self, reply: spb.IngestResponse | spb.IngestAck, resent: int) -> None:
        """Duplicates beyond our own resends (and any conflict) mean another writer uses
        this producer id: those events were not applied. Say so loudly, every time."""
        unexpected = max(0, reply.events_duplicate - resent)
        if not unexpected and not reply.events_conflicting:
            return
        self.stats.duplicate += unexpected
        self.stats.conflicting += reply.events_conflicting
        log.error(
            "telemetry: sanctum already held %d of the %d event(s) just sent for producer %r "
            "of run %r (%d with different content): they were NOT applied. Another process "
            "uses this producer id; give each process its own producer_id (%d so far)",
            unexpected + reply.events_conflicting, reply.events_received,
            self.cfg.producer_id, self.cfg.run_id, reply.events_conflicting,
            self.stats.duplicate + self.stats.conflicting)

    def _check_startup_cursor(self, items: list[Item]) -> None:
        """The first events of this process, checked against the cursor sanctum held for
        this producer when we connected (the buffer was empty then)."""
        cursor = self._startup_cursor
        if not cursor or not items:
            return
        self._startup_cursor = 0
        if items[0][0] <= cursor:
            log.error(
                "telemetry: sanctum already holds seq <= %d for producer %r of run %r, and "
                "this process starts at seq %d: another process used this producer id. "
                "Events with those seqs will be answered as duplicates and not applied; use "
                "a unique producer_id per process", cursor, self.cfg.producer_id,
                self.cfg.run_id, items[0][0])

    def _on_success(self, items: list[Item], n_batches: int, total_dropped: int,
                    calls: int = 1) -> None:
        if items:
            n = self.buffer.ack_through(items[-1][0])
            if isinstance(self._sink, FileSink) and self.cfg.target is not None:
                self.stats.diverted += n
            else:
                self.stats.acked += n
        self.stats.batches += n_batches
        self.stats.calls += calls
        self._drops_reported = max(self._drops_reported, total_dropped)
        if self._failures:
            self.stats.reconnects += 1
            log.info("telemetry: delivering to sanctum again after %d failed attempts",
                     self._failures)
            if isinstance(self._sink, GrpcSink):
                self._sink.succeeded()
            self._logged.discard("outage")
        self._failures = 0
        self._connected_once = True

    def _on_cursor(self, cursor: int | None) -> None:
        self._need_cursor = False
        if cursor is None or cursor == 0:
            return
        if not self._connected_once:
            self._startup_cursor = cursor
        self.stats.acked += self.buffer.ack_through(cursor)

    def _on_failure(self, err: SinkError, chunks: list[list[Item]]) -> None:
        self.stats.errors += 1
        if err.kind == "auth":
            self._divert(err)
        elif err.kind == "rejected":
            self._drop_rejected(err, chunks)
        else:
            self._failures += 1
            self._need_cursor = True
            assert self._sink is not None
            self._window.reset()
            other_replica = self._sink.reset()
            cfg = self.cfg
            base = min(cfg.backoff_max_s, cfg.backoff_initial_s * 2 ** (self._failures - 1))
            if other_replica:  # fail over to the next sanctum replica without waiting
                base = 0.0
            self._next_attempt = time.monotonic() + base * (0.5 + random.random() / 2)
            problem = tls_problem(str(err), ChannelConfig(
                cfg.target or "", tls_ca=Path(cfg.tls_ca) if cfg.tls_ca else None))
            self._log_once(
                "outage", logging.ERROR if problem else logging.WARNING,
                "telemetry: sanctum %s unreachable (%s); buffering events (memory, then spool "
                "in %s) and retrying with backoff", self.cfg.target, problem or err,
                self.buffer.spool.directory,
            )

    def _drop_rejected(self, err: SinkError, chunks: list[list[Item]]) -> None:
        """Sanctum refused a batch as invalid: drop the named events (or the batch), go on."""
        assert self._sink is not None
        try:
            cursor = self._sink.cursor(self.cfg.run_id, self.cfg.producer_id, self._timeout())
        except SinkError as cursor_err:
            self._on_failure(cursor_err, [])
            return
        if cursor:
            self.stats.acked += self.buffer.ack_through(cursor)
        bad = next((c for c in chunks if c[-1][0] > (cursor or 0)), None)
        if bad is None:
            # Nothing of ours to blame (e.g. a drops-only batch): stop re-sending that report.
            self._drops_reported = self.dropped
            return
        if err.bad_indexes and all(i < len(bad) for i in err.bad_indexes):
            seqs = {bad[i][0] for i in err.bad_indexes}
        else:
            seqs = {it[0] for it in bad}
        n = self.buffer.discard(seqs)
        self.stats.rejected += n
        self._log_once(
            "rejected", logging.ERROR,
            "telemetry: sanctum rejected %d event(s) (seq %s) as invalid and they were dropped "
            "(%s); further rejections are counted in stats()['rejected']",
            n, sorted(seqs)[:8], err,
        )

    def _divert(self, err: SinkError) -> None:
        """Credentials refused: retrying cannot help, so keep every event in a local file."""
        path = self.cfg.undelivered_path()
        self._log_once(
            "auth", logging.ERROR,
            "telemetry: sanctum %s refused our credentials (%s). Events of run %r now go to %s; "
            "load them later, with ESPER_TOKEN set to the right token, with: %s",
            self.cfg.target, err, self.cfg.run_id, path, self.cfg.ingest_command(path, token=True),
        )
        assert self._sink is not None
        self._window.reset()
        self._streaming = False
        self._sink.close()
        self._sink = FileSink(path)
        self._need_cursor = False

    def _reject_locally(self, why: str) -> None:
        self.stats.rejected += 1
        self._log_once("local-reject", logging.ERROR, "telemetry: dropped an event: %s", why)

    # -- close --------------------------------------------------------------------------
    def _finish(self) -> None:
        """Save whatever is still buffered to the undelivered file; close spool and sink."""
        try:
            self._drain()
            leftovers = self.buffer.drain_all()
            if leftovers:
                self._save_undelivered(leftovers)
        except Exception:
            log.exception("telemetry: failed to save undelivered events")
        finally:
            self.buffer.spool.close(delete=True)
            self._window.reset()
            if self._sink is not None:
                try:
                    self._sink.close()
                except Exception:
                    log.exception("telemetry: closing the sink failed")
            if self.stats.rejected:
                log.warning("telemetry: %d event(s) were rejected in total", self.stats.rejected)

    def _save_undelivered(self, items: list[Item]) -> None:
        path = self.cfg.undelivered_path()
        sink = FileSink(path)
        drops = self._drops_bytes(self.dropped)
        try:
            sink.send([encode_batch((it[2] for it in c), drops) for c in self._chunk(items)], 0)
            sink.close()
        except SinkError as err:
            self.stats.lost += len(items)
            log.error("telemetry: %d undelivered events lost: %s", len(items), err)
            return
        self.stats.undelivered += len(items)
        token = " (with ESPER_TOKEN set to sanctum's token)" if self.cfg.token else ""
        log.warning(
            "telemetry: %d events were not delivered before close; saved to %s. Load them%s "
            "with: %s", len(items), path, token, self.cfg.ingest_command(path),
        )

    # -- helpers ------------------------------------------------------------------------
    def _drops_pending(self) -> bool:
        return self.dropped > self._drops_reported

    def _drops_bytes(self, total: int) -> bytes | None:
        if total <= 0:
            return None
        return tpb.ProducerDrops(
            run_id=self.cfg.run_id, producer_id=self.cfg.producer_id, dropped_total=total,
        ).SerializeToString()

    def _timeout(self) -> float:
        t = self.cfg.rpc_timeout_s
        if self._deadline is not None:
            t = min(t, max(0.05, self._deadline - time.monotonic()))
        return t

    def _log_once(self, key: str, level: int, msg: str, *args: object) -> None:
        if key not in self._logged:
            self._logged.add(key)
            log.log(level, msg, *args)
