"""The sender child (`python -m esper_client.sidecar_main FD`): the ordinary Sender, in a
process of its own, so that its work and gRPC's threads never take the training process's
GIL (TelemetryConfig.sender_process).

It reads frames (see esper_client.sidecar) from stdin: first the config, then batches of
queued events, then "close" (EOF counts as close too: the trainer died). It reports through
the status page at descriptor FD (esper_client.sidecar_status) and exits once its Sender has
delivered, or saved to the undelivered file, everything it was handed. It logs to the stderr
it inherited, as the training process does (esper_client.sidecar.log_settings).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections import deque
from typing import Any, BinaryIO

from esper_client.sidecar_status import StatusPage, read_frame
from esper_common import logs

log = logging.getLogger("esper_client")
STATUS_EVERY_S = 0.05
#: The child's own format when the training process did not use esper_common.logs.
PLAIN_FORMAT = "esper-telemetry (sender process %(process)d): %(levelname)s: %(message)s"


def configure_logging(settings: dict[str, Any]) -> None:
    """Log as the training process does: its format and fields, plus `sender_pid`, when it
    used esper_common.logs; else PLAIN_FORMAT. Records of "esper_client" at its level."""
    if settings["format"] is not None:
        logs.configure("warning", settings["format"])
        logs.bind_process(**settings["fields"], sender_pid=os.getpid())
    else:
        logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format=PLAIN_FORMAT)
    log.setLevel(settings["level"])


class Child:
    """The Sender thread plus what feeds it and what reports on it."""

    def __init__(self, init: dict[str, Any], page: StatusPage) -> None:
        from esper.telemetry.v1 import telemetry_pb2 as tpb
        from esper_client.config import TelemetryConfig
        from esper_client.sender import Sender

        self._event = tpb.TelemetryEvent
        # The parent's writer already coalesces for send_gap_s: a second gap here would hold
        # each handed-over batch for up to another one (p99 emit -> subscriber 80 ms, not 45).
        self.cfg = TelemetryConfig(**{**init["cfg"], "sender_process": False,
                                      "send_gap_s": 0.0})
        self.page = page
        self.ingress: deque[Any] = deque()
        self.wake = threading.Event()
        #: Events the training process (and earlier children) dropped, for ProducerDrops.
        self.dropped_before = init["dropped_before"]
        self.parent_dropped = 0
        self.sender = Sender(self.cfg, self.ingress, self.wake,
                             lambda: self.parent_dropped + self.dropped_before)
        self.ahead = self.sender.track_ahead()
        self.skip_through = init["safe"]  # finished with by an earlier child
        self.received = init["safe"]  # the highest seq taken
        self.taken = 0  # events taken (after skipping), counted before they are queued
        self._safe = init["safe"]
        if init["handed"]:  # a replacement: what the earlier child sent counts as resent
            self.sender._max_attempted_seq = init["handed"]
            self.sender._connected_once = True
        self._wake_at = self.cfg.batch_max_events * self.cfg.max_batches_per_call
        self.done = False
        self._thread = threading.Thread(target=self.sender.run, name="esper-telemetry-sender",
                                        daemon=True)

    def run(self, stream: BinaryIO) -> None:
        self._thread.start()
        threading.Thread(target=self._report_loop, name="esper-telemetry-status",
                         daemon=True).start()
        close_in = self.cfg.atexit_timeout_s  # EOF: the trainer is gone
        while True:
            frame = read_frame(stream)
            if frame is None:
                break
            kind = frame[0]
            if kind == "items":
                self._take(frame[1], frame[2])
            elif kind == "close":
                close_in = frame[1]
                break
        self.sender.request_close(time.monotonic() + max(0.0, close_in))
        self._thread.join()
        self.done = True
        self.report()

    def _take(self, items: list[Any], parent_dropped: int) -> None:
        """Queue a batch from the parent: built events as (seq, emit ns, bytes), Deferred
        carriers as themselves (built by the Sender thread)."""
        self.parent_dropped = parent_dropped
        event = self._event
        skip = self.skip_through
        out = []
        top = self.received
        for item in items:
            if type(item) is tuple:
                seq, ns, data = item
                if seq <= skip:
                    continue
                out.append((event.FromString(data), ns))
            else:
                seq = item.seq
                if seq <= skip:
                    continue
                out.append(item)
            if seq > top:
                top = seq
        with self.sender.lock:  # a report sees both or neither
            self.taken += len(out)
            self.received = top
        ingress = self.ingress
        n = len(ingress)
        ingress.extend(out)
        sender = self.sender
        if n < self._wake_at <= len(ingress) or sender.idle:
            sender.idle = False
            self.wake.set()

    def safe(self) -> int:
        """The highest seq through which every event received is finished with and counted:
        all of it when the finished events add up to those taken (counters grow only once
        an event is done with, so no event on its way between queues is counted), else the
        last event acknowledged (the outbox is in seq order: everything before it was acked,
        rejected or dropped). Call it holding the sender's lock."""
        s, buf = self.sender.stats, self.sender.buffer
        taken, received = self.taken, self.received
        finished = (s.acked + s.diverted + s.rejected + buf.dropped + s.undelivered + s.lost)
        if finished >= taken:
            safe = received
        else:
            safe = max(self.skip_through, min(buf.acked_through, received))
        self._safe = max(self._safe, safe)  # what was safe stays safe
        return self._safe

    def report(self) -> None:
        """Publish `safe` and the counters of one moment (the sender counts every outcome
        under its lock), with how many of the events it finished out of order lie past `safe`:
        if this process dies, the training process hands those to the next sender, which
        counts them again, so it keeps only the rest of these counts (esper_client.ahead)."""
        with self.sender.lock:
            safe = self.safe()
            counters = self.sender.counters()
            ahead = self.ahead.past(safe)
            received = self.received
        self.page.write({
            "ready": 1, "done": int(self.done), "safe": safe, "received": received, **ahead,
            **counters, "pending": len(self.ingress) + counters["pending"],
            "cpu_ns": time.process_time_ns(),
        })

    def _report_loop(self) -> None:
        while not self.done:
            self.report()
            time.sleep(STATUS_EVERY_S)


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the trainer decides when we close
    page = StatusPage(int(argv[0]))
    stream = sys.stdin.buffer
    init = read_frame(stream)
    if init is None:
        return 1
    configure_logging(init["log"])
    sys.path[:0] = [p for p in init["path"] if p not in sys.path]
    child = Child(init, page)
    child.run(stream)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
