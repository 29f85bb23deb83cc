"""Flush telemetry on SIGINT/SIGTERM with a bounded wait, then behave as the signal would."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Protocol


class _Closable(Protocol):
    def close(self, timeout: float = ...) -> None: ...


def install_signal_flush(
    client: _Closable,
    timeout: float = 5.0,
    signals: Iterable[signal.Signals] = (signal.SIGINT, signal.SIGTERM),
    on_signal: Callable[[int], None] | None = None,
) -> Callable[[], None]:
    """On each signal: call `on_signal(signum)` (e.g. emit a final event), close the client
    within `timeout`, restore the previous handler and re-deliver the signal to it (SIGINT ->
    KeyboardInterrupt, SIGTERM -> default termination). Main thread only. Returns a function
    that restores the previous handlers.
    """
    previous: dict[int, object] = {}

    def restore() -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]  # None: not set from Python

    def handler(signum: int, frame: FrameType | None) -> None:
        try:
            if on_signal is not None:
                on_signal(signum)
        finally:
            client.close(timeout)
        prev = previous.get(signum, signal.SIG_DFL)
        restore()
        if callable(prev):
            prev(signum, frame)
        elif prev == signal.SIG_DFL:
            os.kill(os.getpid(), signum)

    for sig in signals:
        previous[int(sig)] = signal.signal(sig, handler)
    return restore
