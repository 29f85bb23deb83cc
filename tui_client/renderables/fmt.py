"""Number formatting where "unknown" renders as an em dash, never as 0."""

from __future__ import annotations

import math
from collections.abc import Sequence

from google.protobuf.message import Message
from rich.text import Text

from esper_common.presentation import DASH, num

__all__ = ["DASH", "bar", "compact_int", "num", "opt", "pack", "pct", "sparkline"]

def opt(msg: Message, field: str) -> float | None:
    """Value of a proto3 `optional` field, or None when it was not set (not measured)."""
    return getattr(msg, field) if msg.HasField(field) else None


def pct(value: float | None) -> str:
    """0.105 -> "10%" (no decimals); None -> "—"."""
    if value is None:
        return DASH
    if not math.isfinite(value):
        return num(value)
    return f"{value * 100:.0f}%"


def compact_int(n: int) -> str:
    """1234567 -> "1.2M", 5300 -> "5.3k", 42 -> "42"."""
    for div, suffix in ((1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k")):
        if abs(n) >= div:
            return f"{n / div:.1f}{suffix}"
    return str(n)


def bar(fraction: float | None, width: int) -> str:
    """A horizontal bar of `width` cells filled to `fraction` (clamped to 0..1)."""
    if fraction is None or not math.isfinite(fraction):
        return "░" * width
    fraction = min(max(fraction, 0.0), 1.0)
    eighths = round(fraction * width * 8)
    full, part = divmod(eighths, 8)
    partial = " ▏▎▍▌▋▊▉"[part] if part else ""
    text = "█" * full + partial.strip()
    return text + "░" * (width - len(text))


_SPARKS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float] | tuple[float, ...], width: int) -> str:
    """Unicode sparkline of the newest `width` finite values (empty input -> "—")."""
    data = [v for v in list(values)[-width:] if math.isfinite(v)]
    if not data:
        return DASH
    lo, hi = min(data), max(data)
    span = hi - lo
    if span <= 0:
        return _SPARKS[3] * len(data)
    return "".join(_SPARKS[min(7, int((v - lo) / span * 8))] for v in data)


def pack(items: Sequence[Text | str], width: int | None, indent: int = 2, sep: int = 2) -> Text:
    """Lay `items` out left to right `sep` spaces apart, breaking lines between items
    (never inside one) so no line exceeds `width` where possible; None = one line."""
    out = Text()
    col = 0
    for raw in items:
        item = Text(raw) if isinstance(raw, str) else raw
        if col and width is not None and col + sep + item.cell_len > width:
            out.append("\n" + " " * indent)
            col = indent
        elif col:
            out.append(" " * sep)
            col += sep
        out.append_text(item)
        col += item.cell_len
    return out
