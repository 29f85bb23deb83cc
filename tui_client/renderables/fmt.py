"""Number formatting where "unknown" renders as an em dash, never as 0."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from rich.text import Text

from esper_common.presentation import DASH, num

__all__ = ["DASH", "TEXT_LIMIT", "bar", "clip", "clock", "compact_int", "enum_name", "num",
           "opt", "pack", "pct", "sparkline", "ts_seconds"]

#: Longest piece of server-sent text (ids, names, reasons) shown in one place; longer
#: text ends in "…". A snapshot may carry strings of any length.
TEXT_LIMIT = 80
#: Valid google.protobuf.Timestamp range (0001-01-01 .. 9999-12-31), and nanos bound.
TS_MIN_SECONDS, TS_MAX_SECONDS = -62_135_596_800, 253_402_300_799
NANOS = 1_000_000_000
#: Characters that must not reach the terminal as they are: C0/C1 controls (escape
#: sequences, bell, newlines inside one field) and bidi overrides that reorder a line.
_UNPRINTABLE = dict.fromkeys(
    [*range(0x20), 0x7F, *range(0x80, 0xA0), 0x200E, 0x200F, *range(0x202A, 0x202F),
     *range(0x2066, 0x206A)],
    "\ufffd",
)


def clip(text: str, limit: int = TEXT_LIMIT) -> str:
    """Server-sent text made safe to draw: at most `limit` characters (ending in "…" when
    cut) and no control or bidi-override characters (shown as "\ufffd")."""
    if len(text) > limit:
        text = text[: max(0, limit - 1)] + "…"
    return text.translate(_UNPRINTABLE)


def ts_seconds(ts: Timestamp) -> float | None:
    """Unix seconds of a Timestamp; None when it is outside the range a Timestamp may hold
    (years 1 to 9999, nanos in [0, 1e9)): such a value is unknown, not a time."""
    if not (TS_MIN_SECONDS <= ts.seconds <= TS_MAX_SECONDS and 0 <= ts.nanos < NANOS):
        return None
    return ts.seconds + ts.nanos / NANOS


def clock(ts: Timestamp) -> str | None:
    """ "HH:MM:SS" (UTC) of a valid Timestamp, None for an invalid one."""
    if ts_seconds(ts) is None:
        return None
    day = ts.seconds % 86_400
    return f"{day // 3600:02d}:{day // 60 % 60:02d}:{day % 60:02d}"


def enum_name(enum: Any, value: int, prefix: str = "") -> str:
    """The name of an enum value without `prefix`; "?N" for a value this client does not
    know (a newer or hostile server)."""
    try:
        return str(enum.Name(value)).removeprefix(prefix)
    except ValueError:
        return f"?{value}"


def opt(msg: Message, field: str) -> float | None:
    """Value of a proto3 `optional` field, or None when it was not set (not measured)."""
    return getattr(msg, field) if msg.HasField(field) else None


def pct(value: float | None) -> str:
    """0.105 -> "10%" (no decimals); None -> "—"."""
    if value is None:
        return DASH
    if not math.isfinite(value):
        return num(value)
    return num(value * 100, ".0f") + "%"


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
    lo, hi = min(data) / 2, max(data) / 2  # halved: hi - lo of doubles may overflow
    span = hi - lo
    if span <= 0:
        return _SPARKS[3] * len(data)
    return "".join(_SPARKS[min(7, int((v / 2 - lo) / span * 8))] for v in data)


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
