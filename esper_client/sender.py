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
import time

from esper_client.deferred import Deferred
from esper_client.sender_base import SenderBase
from esper_client.sinks import FileSink, GrpcSink, Sink, SinkError
from esper_client.spool import Item
from esper_client.wire import encode_batch, encode_ingest_request

log = logging.getLogger("esper_client")
_MAX_DRAIN = 100_000


class Sender(SenderBase):
    """The sender thread: `run()` is its body."""

    # -- control ------------------------------------------------------------------------
    def request_close(self, deadline: float) -> None:
        self._deadline = deadline
        self._wake.set()

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
        ingress, limit = self._ingress, self.cfg.max_event_bytes
        run_id, producer_id = self.cfg.run_id, self.cfg.producer_id
        out: list[Item] = []
        push = out.append
        try:
            for _ in range(min(len(ingress), _MAX_DRAIN)):
                try:
                    item = ingress.popleft()
                except IndexError:  # cleared by a close() that gave up waiting for us
                    return
                if isinstance(item, Deferred):
                    emitted_ns = item.emitted_ns
                    try:
                        event = item.event()
                    except Exception as exc:  # a typed emitter or log() given an unusable value
                        self._reject_locally(item.seq, f"cannot build event: {exc!r}")
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
                    self._reject_locally(event.seq, f"cannot encode event: {exc}")
                    continue
                if len(data) > limit:
                    self._reject_locally(event.seq, f"it is {len(data)} bytes (> {limit})")
                    continue
                push((event.seq, event.event_type, data))
        finally:  # what was popped is never lost, even on a crash
            if out:
                with self.lock:  # the drop policy may count some
                    self.buffer.extend(out)

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
            if not self._settle():
                return
            if win.room <= 0:
                if len(self.buffer) - win.events < per_batch and self._deadline is None:
                    return  # not a backlog: _wait_for_work waits for an ack or an emit()
                self._await_ack()  # a backlog: the next batch goes as soon as one is acked
                continue
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

    def _await_ack(self) -> None:
        """Wait (at most flush_interval_s) until the stream has an ack or has ended."""
        stream = self._window.stream
        assert stream is not None
        stream.wake_on_ack = True  # before looking: an ack after this line wakes us
        if not stream.has_acks and stream.error is None:
            self._wake.wait(self.cfg.flush_interval_s)
        self._wake.clear()

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

    # -- close --------------------------------------------------------------------------
    def _finish(self) -> None:
        """Save whatever is still buffered to the undelivered file; close spool and sink."""
        try:
            for _ in range(len(self._ingress) // _MAX_DRAIN + 1):  # _drain takes that many
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
