"""The sender's state and what it does with each outcome: acks, cursors, refusals,
failures (backoff, failover, diversion to a file), and saving leftovers at close.

`Sender` (esper_client.sender) adds the thread body and the ways of sending; this base
holds everything both ways (IngestStream and Ingest calls) share.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_client.ahead import KINDS, LOST, REJECTED, UNDELIVERED, Ahead
from esper_client.buffer import OutBuffer
from esper_client.config import TelemetryConfig
from esper_client.deferred import Deferred
from esper_client.policy import DropPolicy
from esper_client.sinks import FileSink, GrpcSink, Sink, SinkError
from esper_client.spool import Item, Spool
from esper_client.window import Window
from esper_client.wire import encode_batch
from esper_common.channel import ChannelConfig
from esper_common.diagnose import tls_problem

log = logging.getLogger("esper_client")


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
    calls: int = 0  # sends acknowledged: Ingest calls, IngestStream writes, file writes
    #: Events sanctum answered "already applied" although this process sent them for the
    #: first time: another writer holds this producer id, and these events were NOT applied.
    duplicate: int = 0
    #: Events sanctum already held with other content for their seq (same cause).
    conflicting: int = 0

#: The keys of SenderBase.counters().
SENDER_COUNTERS = ("sent", "resent", "acked", "spooled", "dropped", "rejected", "diverted",
                   "undelivered", "lost", "reconnects", "errors", "batches", "duplicate",
                   "conflicting", "pending", "spool_segments")


class SenderBase:
    """Owns the outbox, the sink, the counters and the outcome handling."""

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
        #: Held while an outcome is counted (see track_ahead); a no-op until then.
        self.lock: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
        self.ahead: Ahead | None = None

    def track_ahead(self) -> Ahead:
        """For the sender process: record the seqs of events finished out of order, and
        count every outcome under `lock`, so that a status report taken under it sees the
        outbox, `acked_through` and the counters at one moment."""
        self.ahead = self.buffer.ahead = Ahead()
        self.lock = threading.Lock()
        return self.ahead

    @property
    def dropped(self) -> int:
        return self._ingress_dropped() + self.buffer.dropped

    def counters(self) -> dict[str, int]:
        """The delivery counters TelemetryClient.stats() reports, as this sender knows them
        (SENDER_COUNTERS): `dropped` and `pending` cover its outbox only; the caller adds
        what its own queue dropped or still holds."""
        s, buf = self.stats, self.buffer
        return {"sent": s.sent, "resent": s.resent, "acked": s.acked, "spooled": buf.spooled,
                "dropped": buf.dropped, "rejected": s.rejected, "diverted": s.diverted,
                "undelivered": s.undelivered, "lost": s.lost, "reconnects": s.reconnects,
                "errors": s.errors, "batches": s.batches, "duplicate": s.duplicate,
                "conflicting": s.conflicting, "pending": len(buf),
                "spool_segments": buf.spool.segment_count}

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

    def _on_reply(self, reply: spb.IngestResponse | spb.IngestStreamResponse,
                  resent: int) -> None:
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
            with self.lock:
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
        with self.lock:
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
            with self.lock:
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
        with self.lock:
            gone = self.buffer.discard(seqs)
            self._count(REJECTED, gone)
        n = len(gone)
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

    def _reject_locally(self, seq: int, why: str) -> None:
        with self.lock:
            self._count(REJECTED, (seq,))
        self._log_once("local-reject", logging.ERROR, "telemetry: dropped event seq=%d: %s",
                       seq, why)

    def _count(self, kind: int, seqs: Iterable[int]) -> None:
        """Count events finished as KINDS[kind] (a SenderStats field); call it holding
        `lock`. Their seqs go to `ahead` when it is kept."""
        n = 0
        for seq in seqs:
            n += 1
            if self.ahead is not None:
                self.ahead.add(kind, seq)
        name = KINDS[kind]
        setattr(self.stats, name, getattr(self.stats, name) + n)

    # -- close --------------------------------------------------------------------------
    def _save_undelivered(self, items: list[Item]) -> None:
        path = self.cfg.undelivered_path()
        sink = FileSink(path)
        drops = self._drops_bytes(self.dropped)
        try:
            sink.send([encode_batch((it[2] for it in c), drops) for c in self._chunk(items)], 0)
            sink.close()
        except SinkError as err:
            with self.lock:
                self._count(LOST, (it[0] for it in items))
            log.error("telemetry: %d undelivered events lost: %s", len(items), err)
            return
        with self.lock:
            self._count(UNDELIVERED, (it[0] for it in items))
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

