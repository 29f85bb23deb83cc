"""TelemetryClient: the producer side, usable from any PyTorch training loop.

    client = TelemetryClient(TelemetryConfig("127.0.0.1:50051", run_id="r1", producer_id="rank0"))
    ...                       # build DataLoaders / fork data workers here
    client.start()            # the sender thread (and, inside it, the gRPC channel) starts now
    client.emit(event)        # non-blocking; fills run_id, producer_id, seq, timestamp
    client.close(timeout=10)  # bounded flush; also done at interpreter exit

Construction creates no channel and no thread, so it is safe before forking data workers;
start() must come AFTER the fork (torch DataLoader workers, multiprocessing). A process
forked after start() gets an inert copy (emit counts and discards, start raises), so a child
never touches the parent's channel. Events are owned by the client once emitted: do not
mutate or re-emit the same message object.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections import deque
from typing import Any

from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_client.config import TelemetryConfig
from esper_client.deferred import Deferred
from esper_client.sender import Sender
from esper_client.sender_base import SENDER_COUNTERS
from esper_client.sidecar import Sidecar
from esper_common.events import ESSENTIAL_TYPES, PAYLOAD_FOR_TYPE

log = logging.getLogger("esper_client")
_CLIENTS: weakref.WeakSet[TelemetryClient] = weakref.WeakSet()
_fork_warned = False


class TelemetryClient:
    """Non-blocking event producer with a background sender (see module docstring)."""

    enabled = True

    def __init__(self, cfg: TelemetryConfig) -> None:
        self.cfg = cfg
        self._run_id = cfg.run_id
        self._producer_id = cfg.producer_id
        #: (event, emit time in ns) tuples, or Deferred events (which carry their time).
        self._ingress: deque[tuple[tpb.TelemetryEvent, int] | Deferred] = deque()
        self._ingress_max = cfg.ingress_max_events
        self._wake = threading.Event()
        self._wake_at = cfg.batch_max_events * cfg.max_batches_per_call
        self._lock = threading.Lock()
        self._close_lock = threading.Lock()
        self._seq = 0
        self._emitted = 0
        self._ingress_dropped = 0
        #: Events handed to the sender process and not yet confirmed (process mode): they
        #: count against ingress_max_events as if still queued.
        self._held = 0
        self._invalid = 0
        self._late = 0
        self._warned: set[str] = set()
        self._accepting = True
        self._closed = False
        self._forked = False
        self._pid = os.getpid()
        self._thread: threading.Thread | None = None
        self._sender = Sender(cfg, self._ingress, self._wake, lambda: self._ingress_dropped)
        self._sidecar: Sidecar | None = None
        #: What emit() wakes when its `idle` is set: the sender, or the sidecar's writer.
        self._mover: Sender | Sidecar = self._sender
        _CLIENTS.add(self)

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        """Start the sender thread, or with `sender_process` the sender process and its
        writer thread (idempotent). Call it after forking data workers."""
        if self._forked:
            raise RuntimeError(
                f"TelemetryClient was created in process {self._pid} and inherited by fork; "
                "create a new client (with its own producer_id) in this process"
            )
        if self._thread is not None or self._sidecar is not None or self._closed:
            return
        if self.cfg.uses_sender_process():
            self._sidecar = self._mover = Sidecar(self)
            self._sidecar.start()
        else:
            self._thread = threading.Thread(
                target=self._sender.run, name=f"esper-telemetry-{self._producer_id}",
                daemon=True)
            self._thread.start()
        atexit.register(_close_at_exit, weakref.ref(self))

    def close(self, timeout: float = 10.0) -> None:
        """Flush what was emitted within `timeout` seconds, then stop (idempotent).

        Events sanctum has not confirmed by then are saved to an event file (path logged).
        """
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
            self._accepting = False
        deadline = time.monotonic() + max(0.0, timeout)
        if self._sidecar is not None:
            self._sidecar.close(deadline)
        elif self._thread is None:
            self._sender.request_close(deadline)
            if self._ingress:  # never started: deliver inline, still bounded by the deadline
                self._sender.run()
        else:
            self._sender.request_close(deadline)
            self._thread.join(max(0.0, timeout) + 2.0)
            if self._thread.is_alive():
                log.error("telemetry sender did not stop within %.1f s; abandoning it", timeout)
        self._late += len(self._ingress)  # raced with close: counted, never silently lost
        self._ingress.clear()

    def __enter__(self) -> TelemetryClient:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- hot path -----------------------------------------------------------------------
    def emit(self, event: tpb.TelemetryEvent) -> None:
        """Queue one event; fills run_id, producer_id, seq and timestamp when unset.

        seq is assigned here; run_id, producer_id and the timestamp (the emit time) are
        filled by the sender thread before the event is serialized.

        Never blocks and never raises: an invalid event (payload not matching its type, not
        a TelemetryEvent) is counted in stats()['invalid'], one after close in ['late'].
        """
        if not self._accepting:
            self._late += 1
            if "late" not in self._warned:
                self._warn_once("late", "telemetry: emit() after close() or in a forked child; "
                                "event discarded (counted in stats()['late'])")
            return
        try:
            etype = event.event_type
            if PAYLOAD_FOR_TYPE.get(etype) != event.WhichOneof("payload"):
                raise ValueError(
                    f"payload {event.WhichOneof('payload')!r} does not fit event_type {etype}"
                )
            # run_id, producer_id and timestamp (from `now`) are filled by the sender thread,
            # keeping the caller's cost to a type check, a seq and an append.
            now = time.time_ns()
            with self._lock:
                if event.seq:
                    if event.seq > self._seq:
                        self._seq = event.seq
                else:
                    self._seq += 1
                    event.seq = self._seq
                self._emitted += 1
                ingress = self._ingress
                n = len(ingress)
                if n + self._held >= self._ingress_max and etype not in ESSENTIAL_TYPES:
                    self._ingress_dropped += 1
                    return
                ingress.append((event, now))
                sender = self._mover
                if n + 1 == self._wake_at or sender.idle:
                    sender.idle = False  # one wake per idle spell
                    self._wake.set()
        except Exception as exc:
            self._invalid += 1
            if "invalid" not in self._warned:
                self._warn_once("invalid", f"telemetry: invalid event discarded ({exc!r}); "
                                "further ones are counted in stats()['invalid']")

    def emit_deferred(self, item: Deferred) -> None:
        """Queue an event the sender thread builds (`item.build()`): the caller pays for a
        sequence number and an append only (the typed emitters and log() use this). What
        the item holds must not change after the call. Never blocks; an event that cannot
        be built is counted in stats()['rejected'] and logged once."""
        if not self._accepting:
            self._late += 1
            return
        item.emitted_ns = time.time_ns()
        with self._lock:
            self._seq += 1
            item.seq = self._seq
            self._emitted += 1
            ingress = self._ingress
            n = len(ingress)
            if n + self._held >= self._ingress_max and item.event_type not in ESSENTIAL_TYPES:
                self._ingress_dropped += 1
                return
            ingress.append(item)
            sender = self._mover
            if n + 1 == self._wake_at or sender.idle:
                sender.idle = False  # one wake per idle spell
                self._wake.set()

    def stats(self) -> dict[str, int]:
        """Delivery counters: emitted, sent, acked, spooled, dropped, reconnects, ..."""
        c = self._sidecar.stats() if self._sidecar is not None else self._sender.counters()
        return {
            "emitted": self._emitted,
            **{name: c[name] for name in SENDER_COUNTERS},
            "dropped": self._ingress_dropped + c["dropped"],
            "invalid": self._invalid,
            "late": self._late,
            "pending": len(self._ingress) + c["pending"],
        }

    # -- internals ----------------------------------------------------------------------
    def _warn_once(self, key: str, msg: str) -> None:
        self._warned.add(key)
        log.warning(msg)

    def _after_fork_in_child(self) -> None:
        self._forked = True
        self._accepting = False
        self._closed = True
        self._thread = None
        if self._sidecar is not None:
            self._sidecar.after_fork_in_child()


class NullTelemetry:
    """Telemetry switched off: the same methods, doing nothing (for overhead baselines).
    `enabled = False` tells the training loop not to build events at all."""

    enabled = False

    def __init__(self, cfg: TelemetryConfig | None = None) -> None:
        self.cfg = cfg

    def start(self) -> None:
        pass

    def emit(self, event: tpb.TelemetryEvent) -> None:
        pass

    def close(self, timeout: float = 10.0) -> None:
        pass

    def stats(self) -> dict[str, int]:
        return {}

    def __enter__(self) -> NullTelemetry:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass


def _close_at_exit(ref: weakref.ref[TelemetryClient]) -> None:
    client = ref()
    if client is not None and client._pid == os.getpid():
        client.close(client.cfg.atexit_timeout_s)


def _before_fork() -> None:
    global _fork_warned
    if _fork_warned:
        return
    if any((c._thread is not None or c._sidecar is not None) and not c._closed
           for c in list(_CLIENTS)):
        _fork_warned = True
        log.warning(
            "fork() after TelemetryClient.start(): the child gets an inert copy of the client. "
            "Start telemetry after creating data-loader workers, or create a client per process."
        )


def _after_fork_in_child() -> None:
    for client in list(_CLIENTS):
        client._after_fork_in_child()


os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)
