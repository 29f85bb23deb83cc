"""Reading one value of the original system's JSON into a field sanctum will accept.

Sanctum refuses a whole batch for one non-finite double or an integer out of its field's
range, and the original writes both (bare `NaN`, unsigned 64-bit seeds). `Values` reads a
payload dict field by field: `null` or a missing key is "not applicable" and gives None
(the caller leaves the field unset); a value sanctum would refuse is left out or clamped,
and counted under `TYPE.key` so the import can say what it changed.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

#: Bounds of the proto integer types the mapping writes.
U32_MAX = 2**32 - 1
U64_MAX = 2**64 - 1
I64_MIN, I64_MAX = -(2**63), 2**63 - 1
#: Sanctum's limit on one string (bytes); longer text is cut, with a marker.
MAX_TEXT_BYTES = 4096
#: Sanctum's limit on a repeated field.
MAX_ITEMS = 4096


class Values:
    """Typed reads of one event's payload (`data`), counting what had to change.

    `omitted` counts non-finite doubles left out; `clamped` counts integers forced into
    range, text cut and lists shortened; both keyed by "TYPE.key".
    """

    def __init__(self, omitted: Counter[str], clamped: Counter[str]) -> None:
        self._omitted = omitted
        self._clamped = clamped
        self.event_type = ""
        self.data: dict[str, Any] = {}

    def bind(self, event_type: str, data: dict[str, Any]) -> Values:
        """Read from `data` of an event of type `event_type` (returns self)."""
        self.event_type = event_type
        self.data = data
        return self

    def _omit(self, key: str) -> None:
        self._omitted[f"{self.event_type}.{key}"] += 1

    def note_clamped(self, key: str) -> None:
        """Count a change made to `key` (clamped, cut or left out as invalid)."""
        self._clamped[f"{self.event_type}.{key}"] += 1

    # -- scalars -----------------------------------------------------------------------
    def num(self, key: str, src: dict[str, Any] | None = None, scale: float = 1.0
            ) -> float | None:
        """A finite double, times `scale`; None when null, missing, not a number or not
        finite (the last counted)."""
        value = (self.data if src is None else src).get(key)
        if value is None or isinstance(value, bool) or not isinstance(value, int | float):
            return None
        try:
            out = float(value) * scale
        except OverflowError:  # an int too big for a double
            out = math.inf
        if not math.isfinite(out):
            self._omit(key)
            return None
        return out

    def _int(self, key: str, lo: int, hi: int, src: dict[str, Any] | None) -> int | None:
        value = (self.data if src is None else src).get(key)
        if value is None or isinstance(value, bool):
            return None
        if isinstance(value, float):
            if not math.isfinite(value):
                self._omit(key)
                return None
            value = int(value)
        if not isinstance(value, int):
            return None
        if value < lo or value > hi:
            self.note_clamped(key)
            return lo if value < lo else hi
        return value

    def u32(self, key: str, src: dict[str, Any] | None = None) -> int | None:
        return self._int(key, 0, U32_MAX, src)

    def u64(self, key: str, src: dict[str, Any] | None = None) -> int | None:
        return self._int(key, 0, U64_MAX, src)

    def i64_exact(self, key: str, src: dict[str, Any] | None = None) -> int | None:
        """An int64 that must not change (a random seed): out of range is left out, not
        clamped to a different seed."""
        value = (self.data if src is None else src).get(key)
        if isinstance(value, int) and not isinstance(value, bool) and not (
                I64_MIN <= value <= I64_MAX):
            self._omit(key)
            return None
        return self._int(key, I64_MIN, I64_MAX, src)

    def flag(self, key: str, src: dict[str, Any] | None = None) -> bool | None:
        value = (self.data if src is None else src).get(key)
        return value if isinstance(value, bool) else None

    def text(self, key: str, src: dict[str, Any] | None = None) -> str:
        """A string field ("" when null or missing; numbers are written out)."""
        value = (self.data if src is None else src).get(key)
        if value is None or isinstance(value, dict | list):
            return ""
        return self.clip(key, value if isinstance(value, str) else str(value))

    def clip(self, key: str, value: str) -> str:
        """`value` within MAX_TEXT_BYTES (cut on a character boundary, counted)."""
        if len(value) * 4 <= MAX_TEXT_BYTES or len(value.encode()) <= MAX_TEXT_BYTES:
            return value
        self.note_clamped(key)
        cut = value.encode()[:MAX_TEXT_BYTES - 3].decode(errors="ignore")
        return cut + "…"

    # -- lists -------------------------------------------------------------------------
    def nums(self, key: str, scale: float = 1.0) -> list[float]:
        """Finite doubles of a list (non-finite entries left out and counted)."""
        items = self.data.get(key)
        if not isinstance(items, list):
            return []
        out = []
        for value in self.items(key, items):
            if isinstance(value, int | float) and not isinstance(value, bool):
                x = float(value) * scale
                if math.isfinite(x):
                    out.append(x)
                else:
                    self._omit(key)
        return out

    def texts(self, key: str) -> list[str]:
        items = self.data.get(key)
        if not isinstance(items, list):
            return []
        return [self.clip(key, str(v)) for v in self.items(key, items) if v is not None]

    def items(self, key: str, items: list[Any]) -> list[Any]:
        """`items` cut to MAX_ITEMS entries (counted when cut)."""
        if len(items) > MAX_ITEMS:
            self.note_clamped(key)
            return items[:MAX_ITEMS]
        return items


def set_fields(msg: Any, **values: object) -> Any:
    """Set each field of `msg` whose value is not None (None: leave it unset / default).
    Returns msg."""
    for name, value in values.items():
        if value is not None:
            setattr(msg, name, value)
    return msg
