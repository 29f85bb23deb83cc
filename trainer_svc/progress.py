"""Progress on stderr: a one-line bar on a terminal, plain lines when redirected, one JSON
record per batch under --log-format json."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from esper_common import logs
from trainer_svc.train import BatchReport

BAR_WIDTH = 24


class Progress:
    """Renders BatchReports (episodes done, mean episode reward, mean accuracy)."""

    def __init__(self, total_episodes: int, stream: TextIO | None = None,
                 enabled: bool = True) -> None:
        self.stream = stream or sys.stderr
        self.total = total_episodes
        self.enabled = enabled
        self.tty = (bool(getattr(self.stream, "isatty", lambda: False)())
                    and not logs.is_json())
        self.t0 = time.monotonic()

    def line(self, r: BatchReport, elapsed: float | None = None) -> str:
        elapsed = time.monotonic() - self.t0 if elapsed is None else elapsed
        frac = min(1.0, r.episodes_completed / max(1, self.total))
        filled = int(round(frac * BAR_WIDTH))
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        return (f"[{bar}] {r.episodes_completed}/{self.total} episodes  "
                f"reward {r.avg_reward:+.3f}  acc {r.avg_accuracy:.3f}  "
                f"{elapsed:.1f}s")

    def __call__(self, r: BatchReport) -> None:
        if not self.enabled:
            return
        last = r.batch_idx + 1 == r.n_batches
        elapsed = time.monotonic() - self.t0 if r.elapsed_s is None else r.elapsed_s
        logs.status("progress", ("\r" if self.tty else "") + self.line(r, elapsed),
                    stream=self.stream,
                    end="\n" if last or not self.tty else "",
                    episodes=r.episodes_completed, total=self.total,
                    reward=r.avg_reward, accuracy=r.avg_accuracy,
                    elapsed_s=round(elapsed, 3))

    def finish(self) -> None:
        """End a partial bar line (interrupted run) so later messages start clean."""
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()
