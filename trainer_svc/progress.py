"""Progress on stderr: a one-line bar on a terminal, plain lines when redirected."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from trainer_svc.train import BatchReport

BAR_WIDTH = 24


class Progress:
    """Renders BatchReports (episodes done, mean episode reward, mean accuracy)."""

    def __init__(self, total_episodes: int, stream: TextIO | None = None,
                 enabled: bool = True) -> None:
        self.stream = stream or sys.stderr
        self.total = total_episodes
        self.enabled = enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.t0 = time.monotonic()

    def line(self, r: BatchReport) -> str:
        frac = min(1.0, r.episodes_completed / max(1, self.total))
        filled = int(round(frac * BAR_WIDTH))
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        return (f"[{bar}] {r.episodes_completed}/{self.total} episodes  "
                f"reward {r.avg_reward:+.3f}  acc {r.avg_accuracy:.3f}  "
                f"{time.monotonic() - self.t0:.1f}s")

    def __call__(self, r: BatchReport) -> None:
        if not self.enabled:
            return
        if self.tty:
            end = "\n" if r.batch_idx + 1 == r.n_batches else ""
            self.stream.write("\r" + self.line(r) + end)
        else:
            self.stream.write(self.line(r) + "\n")
        self.stream.flush()

    def finish(self) -> None:
        """End a partial bar line (interrupted run) so later messages start clean."""
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()
