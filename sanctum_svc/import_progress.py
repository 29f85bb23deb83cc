"""Progress of a file import on stderr: a bar redrawn in place on a terminal, a plain line
every PLAIN_EVERY_S seconds when stderr is redirected (a log file, CI)."""

from __future__ import annotations

import sys
import time
from typing import Protocol, TextIO

from esper_common import logs

BAR_WIDTH = 24
REDRAW_S = 0.1
PLAIN_EVERY_S = 10.0


class Counts(Protocol):
    lines: int
    events: int
    sent: int


class ByteProgress:
    """Fraction done = bytes of the file read (compressed bytes for .gz) / its size."""

    def __init__(self, label: str, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = (bool(getattr(self.stream, "isatty", lambda: False)())
                    and not logs.is_json())
        self.total = 0
        self.t0 = time.monotonic()
        self._last = 0.0
        self._drawn = False

    def line(self, position: int, counts: Counts) -> str:
        frac = min(1.0, position / self.total) if self.total else 1.0
        filled = int(frac * BAR_WIDTH)
        elapsed = max(time.monotonic() - self.t0, 1e-9)
        return (f"{self.label} [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {frac:4.0%}  "
                f"{counts.lines:,} lines  {counts.events:,} events "
                f"({counts.events / elapsed:,.0f}/s)  {counts.sent:,} sent")

    def update(self, position: int, counts: Counts) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        every = REDRAW_S if self.tty else PLAIN_EVERY_S
        done = self.total and position >= self.total
        if now - self._last < every and not (done and self.tty):
            return
        self._last = now
        if self.tty:
            self.stream.write("\r" + self.line(position, counts))
            self.stream.flush()
            self._drawn = True
        elif now - self.t0 >= PLAIN_EVERY_S:
            logs.status("progress", self.line(position, counts), stream=self.stream,
                        bytes_read=position, bytes_total=self.total, lines=counts.lines,
                        events=counts.events, sent=counts.sent)

    def finish(self) -> None:
        """End the bar's line so later output starts on a fresh one."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
