"""Process mode (TelemetryConfig.sender_process): the Sender runs in a child process, so its
Python work and gRPC's threads never hold the training process's GIL.

The training process keeps emit() as it is (a seq and an append) and one light writer
thread: each send gap it moves what was queued to the child as one pickled batch over a
pipe (built events as serialized bytes, Deferred carriers as themselves: the child builds
them). It keeps every batch it handed over until the child reports, on a shared status page
(esper_client.sidecar_status), that all events up to its last seq are safe: finished with and
counted (acknowledged by sanctum, written to the event file or the undelivered file,
rejected, or dropped by the policy). If the child dies, the writer logs it, starts another
one and hands it that unsafe tail again (sanctum applies each (producer, seq) once, so
nothing is applied twice). If no child can run, the ordinary in-process sender thread takes
over the same tail.

Counters stay exact across a death: each event is counted once in acked + rejected +
dropped (+ diverted, undelivered, lost). A dead child's counts are kept for the events up to
its last `safe` (one record with its counters); those past it (e.g. a rejected event ahead
of an unacknowledged one) are counted by whoever finishes the tail, so `rejected` and
`dropped` may step back at a death until then. `sent` and `spooled` count wire sends and
spool writes, a resend or respool included; `resent` counts every event handed again to a
new sender, sent before or not: a bound on what sanctum may answer as a duplicate, so a
duplicate beyond it still means another writer.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import shutil
import subprocess
import sys
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_client.deferred import Deferred
from esper_client.sender import Sender
from esper_client.sidecar_status import COUNTERS, FRAME, StatusPage
from esper_common import logs

if TYPE_CHECKING:
    from esper_client.client import TelemetryClient

log = logging.getLogger("esper_client")
#: Children started after the first one died, before the in-process sender takes over.
MAX_RESTARTS = 5
#: The child's entry point (`python -m CHILD_MODULE FD`).
CHILD_MODULE = "esper_client.sidecar_main"
#: How often the writer looks at the child (alive? what is safe now?); a write to a dead
#: child is noticed at once.
CHECK_EVERY_S = 0.25
#: How long a new child may take to import and map its status page.
READY_TIMEOUT_S = 30.0


class Sidecar:
    """The training process's end: the writer thread, the unsafe tail, the child."""

    def __init__(self, client: TelemetryClient) -> None:
        self.client = client
        self.cfg = client.cfg
        #: True while the writer waits with nothing to move (emit() then wakes it).
        self.idle = False
        #: Handed-over batches not yet safe: (last seq, events, pickled frame).
        self.unsafe: deque[tuple[int, int, bytes]] = deque()
        self.handed = 0  # the highest seq handed to a child
        self.base: dict[str, int] = dict.fromkeys(COUNTERS, 0)  # from children that died
        self.last: dict[str, int] = {}  # the current child's last consistent status
        #: Held while base, last or the status page change or are read together: stats() runs
        #: on the caller's thread while the writer may retire a dead child's page.
        self._counts = threading.RLock()
        self.safe = 0
        self.restarts = 0
        self.fallback: Sender | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._page: StatusPage | None = None
        self._stop = False
        self._thread: threading.Thread | None = None
        self._local: set[Any] = set()  # Deferred builders that cannot cross: built here
        #: Set once the first child is up (or the in-process sender took over).
        self.ready = threading.Event()

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        """Start the writer, which starts the child (on failure: the in-process sender,
        logged); emit() queues meanwhile, so the caller never waits for the child."""
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"esper-telemetry-writer-{self.cfg.producer_id}")
        self._thread.start()

    def close(self, deadline: float) -> None:
        """Hand over the rest, let the child flush until `deadline`, wait for it."""
        if self._thread is not None:
            self._stop = True
            self.client._wake.set()
            self._thread.join(max(0.0, deadline - time.monotonic()) + 2.0)
        if self.fallback is not None:
            self.fallback.request_close(deadline)
            thread = self.client._thread
            if thread is not None and thread is not self._thread:
                thread.join(max(0.0, deadline - time.monotonic()) + 2.0)
            else:
                self.fallback.run()
            return
        proc = self._proc
        if proc is None:
            return
        if self._thread is not None and self._thread.is_alive():
            # Stuck writing to a child that stopped reading: it gets no more, and is killed.
            log.error("telemetry sender process %d stopped reading; killing it", proc.pid)
            proc.kill()
        try:
            self._write(pickle.dumps(("close", max(0.0, deadline - time.monotonic()))))
            assert proc.stdin is not None
            proc.stdin.close()
        except OSError:
            pass  # it died: handled below
        try:
            proc.wait(max(0.0, deadline - time.monotonic()) + 2.0)
        except subprocess.TimeoutExpired:
            log.error("telemetry sender process %d did not stop in time; killing it", proc.pid)
            proc.kill()
            proc.wait()
        self._read_status()
        self._forget_safe()
        if self.unsafe:  # it died (or was killed) holding events: deliver or save them here
            self._fall_back(f"sender process {proc.pid} exited with {proc.returncode} "
                            f"holding {sum(n for _, n, _ in self.unsafe)} unconfirmed events")
            assert self.fallback is not None
            self.fallback.request_close(deadline)
            self.fallback.run()
        self._retire()

    def after_fork_in_child(self) -> None:
        """A fork of the training process must not write to (or hold open) our pipe."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.stdin is not None:
            with contextlib.suppress(OSError):
                os.close(proc.stdin.fileno())

    # -- stats --------------------------------------------------------------------------
    def stats(self) -> dict[str, int]:
        """The sender's counters: earlier children's, plus the current child's (or the
        in-process sender's after a fall-back)."""
        with self._counts:
            out = dict(self.base)
            if self.fallback is not None:
                now: dict[str, int] = self.fallback.counters()
            else:
                self._read_status()
                now = self.last
            for name in COUNTERS:
                out[name] += now.get(name, 0)
            out["pending"] = now.get("pending", 0)
            out["spool_segments"] = now.get("spool_segments", 0)
            return out

    # -- the writer thread --------------------------------------------------------------
    def _run(self) -> None:
        cfg, wake = self.cfg, self.client._wake
        last = next_check = -1.0
        started = self._start_child("the sender process")
        self.ready.set()
        if not started:
            return
        try:
            while not self._stop and self.fallback is None:
                gap_left = last + cfg.send_gap_s - time.monotonic()
                if gap_left > 0:
                    time.sleep(gap_left)
                self.idle = True  # before looking: an emit() after this line wakes us
                if not self.client._ingress and not self._stop:
                    wake.wait(cfg.flush_interval_s)
                self.idle = False
                wake.clear()
                last = time.monotonic()
                if last >= next_check:  # not every gap: each costs the training GIL time
                    next_check = last + CHECK_EVERY_S
                    self._check_child()
                    self._read_status()
                    self._forget_safe()
                self._hand_over()
            if self.fallback is None:
                self._hand_over()
        except BaseException:
            log.exception("telemetry writer crashed; the in-process sender takes over")
            self._fall_back("the writer thread crashed")

    def _hand_over(self) -> None:
        """Move what emit() queued to the child as one frame, kept until it is safe."""
        client = self.client
        with client._lock:
            items = list(client._ingress)
            client._ingress.clear()
            client._held += len(items)
        if not items:
            return
        # Per item only what it needs: this loop runs on the training process's GIL.
        out: list[Any] = []
        push = out.append
        local = self._local
        pooled: list[Deferred] = []  # carriers to give back once pickled
        last = 0
        for item in items:
            if isinstance(item, tuple):
                event, ns = item
                seq = event.seq
                push((seq, ns, event.SerializeToString()))
            else:
                seq = item.seq
                if local and (type(item), getattr(item, "fn", None)) in local:
                    push(self._built_here(item))  # it gave itself back
                else:
                    push(item)
                    if item.pool is not None:
                        pooled.append(item)
            if seq > last:
                last = seq
        dropped = client._ingress_dropped
        try:
            frame = pickle.dumps(("items", out, dropped), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:
            out = [self._portable(it) for it in out]
            frame = pickle.dumps(("items", out, dropped), protocol=pickle.HIGHEST_PROTOCOL)
            pooled = [it for it in out if type(it) is not tuple and it.pool is not None]
        for carrier in pooled:
            carrier.recycle()
        self.unsafe.append((last, len(out), frame))
        self.handed = max(self.handed, last)
        try:
            self._write(frame)
        except OSError:
            self._check_child()  # it died: a new one gets the whole unsafe tail

    def _portable(self, item: Any) -> Any:
        """`item`, or its event built here when it cannot be pickled (a builder defined
        at run time, an argument holding a live object); remembered per builder."""
        if type(item) is tuple:
            return item
        try:
            pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
            return item
        except Exception:
            self._local.add((type(item), getattr(item, "fn", None)))
            return self._built_here(item)

    @staticmethod
    def _built_here(item: Deferred) -> Any:
        seq, ns = item.seq, item.emitted_ns
        try:
            event = item.event()
        except Exception:
            # Unbuildable: sanctum refuses it (no payload), counted as rejected under its
            # own seq, which keeps the child's outbox in seq order.
            event = tpb.TelemetryEvent(seq=seq)
        return (seq, ns, event.SerializeToString())

    def _forget_safe(self) -> None:
        safe, unsafe = self.safe, self.unsafe
        freed = 0
        while unsafe and unsafe[0][0] <= safe:
            freed += unsafe.popleft()[1]
        if freed:
            with self.client._lock:
                self.client._held -= freed

    def _read_status(self) -> None:
        with self._counts:
            if self._page is None:
                return
            status = self._page.read()
            if status:
                self.last = status
                self.safe = max(self.safe, status["safe"])

    # -- the child ----------------------------------------------------------------------
    def _start_child(self, what: str) -> bool:
        """Spawn a child; when that fails the in-process sender takes over (False)."""
        try:
            self._spawn()
        except Exception as exc:
            self._retire()
            self._fall_back(f"cannot start {what} ({exc!r})")
            return False
        return True

    def _spawn(self) -> None:
        page = StatusPage()
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        cfg = {k: v for k, v in vars(self.cfg).items()}
        proc = subprocess.Popen(
            [sys.executable, "-m", CHILD_MODULE, str(page.fd)],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, pass_fds=(page.fd,), env=env,
            start_new_session=True)  # a Ctrl-C in the terminal is the trainer's to handle
        with self._counts:
            self._proc, self._page, self.last = proc, page, {}
        self._write(pickle.dumps({
            "cfg": cfg, "path": list(sys.path), "safe": self.safe, "handed": self.handed,
            "dropped_before": self.base["dropped"], "log": log_settings()}))
        for _, _, frame in self.unsafe:
            self._write(frame)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not page.read():
            if proc.poll() is not None:
                raise RuntimeError(f"it exited with {proc.returncode}")
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"it did not start within {READY_TIMEOUT_S:g} s")
            time.sleep(0.005)

    def _write(self, frame: bytes) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        self._proc.stdin.write(FRAME.pack(len(frame)) + frame)
        self._proc.stdin.flush()

    def _check_child(self) -> None:
        """A child that died is replaced (and given the unsafe tail); too many deaths, or
        one that cannot start, hand the tail to the in-process sender."""
        proc = self._proc
        if proc is None or self._stop or proc.poll() is None:
            return  # (at close, close() deals with a dead child)
        self._read_status()
        self._forget_safe()
        held = sum(n for _, n, _ in self.unsafe)
        self._retire()
        if self.restarts >= MAX_RESTARTS:
            self._fall_back(f"the sender process died {self.restarts + 1} times")
            return
        log.error("telemetry: the sender process %d died (exit %s); starting another and "
                  "handing it the %d event(s) it had not confirmed", proc.pid, proc.returncode,
                  held)
        if self._start_child("another sender process"):
            self.restarts += 1

    def _retire(self) -> None:
        """Fold the current child's counters into the base, less the events it finished
        past its `safe` (still in the unsafe tail: whoever takes the tail counts them);
        forget the child."""
        with self._counts:
            last = self.last
            for name in COUNTERS:
                if name not in ("pending", "spool_segments"):
                    self.base[name] += last.get(name, 0) - last.get(f"{name}_ahead", 0)
            self.last = {}
            page, self._page = self._page, None
        if page is not None:
            page.close()
        proc = self._proc
        if proc is not None and proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        if proc is not None and proc.poll() is not None:
            # Whatever a dead child had spooled is in the unsafe tail too (a spool is not
            # "safe"); one that finished removed its spool itself.
            shutil.rmtree(self.cfg.spool_path(proc.pid), ignore_errors=True)
        self._proc = None

    def _fall_back(self, why: str) -> None:
        """The in-process sender thread takes the unsafe tail and the queue from here on."""
        if self.fallback is not None:
            return
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._read_status()
            self._retire()
        log.error("telemetry: %s; sending from the training process instead (as with "
                  "sender_process=False)", why)
        client = self.client
        tail: list[Any] = []
        for _, _, frame in self.unsafe:
            for item in pickle.loads(frame)[1]:  # noqa: S301 - our own frames
                if type(item) is tuple:
                    seq, ns, data = item
                    if seq > self.safe:
                        tail.append((tpb.TelemetryEvent.FromString(data), ns))
                elif item.seq > self.safe:
                    tail.append(item)
        self.unsafe.clear()
        dropped_before = self.base["dropped"]
        sender = Sender(self.cfg, client._ingress, client._wake,
                        lambda: client._ingress_dropped + dropped_before)
        if self.handed:
            sender._max_attempted_seq = self.handed
            sender._connected_once = True
        with client._lock:
            client._ingress.extendleft(reversed(tail))
            client._held = 0
            client._sender = client._mover = sender
        self.fallback = sender
        if not self._stop:
            client._thread = threading.Thread(target=sender.run, daemon=True,
                                              name=f"esper-telemetry-{self.cfg.producer_id}")
            client._thread.start()


def log_settings() -> dict[str, Any]:
    """How this process logs, for the child (plain data: it is pickled in the init frame):
    the "esper_client" logger's effective level; the format when esper_common.logs set up
    the logs (else None); the fields bound for the whole process (not a block's)."""
    fmt = ("json" if logs.is_json() else "text") if logs.configured() else None
    fields = {k: v if isinstance(v, (str, int, float, bool)) else str(v)
              for k, v in logs.process_fields().items()}
    return {"level": log.getEffectiveLevel(), "format": fmt, "fields": fields}
