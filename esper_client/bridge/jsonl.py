"""Reading the original's JSONL telemetry files (plain or gzip) one line at a time.

Python's `json` is the original's writer, so its reader accepts what the original writes:
bare `NaN`/`Infinity` tokens and integers of any size. A line that does not parse is
reported with its number and skipped whole; a line longer than MAX_LINE_BYTES is skipped
without being held in memory.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

#: Longest line read (the original's widest records are tens of KiB).
MAX_LINE_BYTES = 16 * 1024 * 1024
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass
class Line:
    """One line: its 1-based number, the parsed record or why it could not be parsed."""

    number: int
    record: Any = None
    error: str = ""


class JsonlFile:
    """Iterate a JSONL file's lines; `position` and `size` (bytes of the file on disk,
    compressed for .gz) measure progress."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.size = self.path.stat().st_size
        self._raw: IO[bytes] = open(self.path, "rb")  # noqa: SIM115 (closed in close())
        self.compressed = self._raw.read(2) == _GZIP_MAGIC
        self._raw.seek(0)
        self._text: IO[bytes] | gzip.GzipFile = (gzip.GzipFile(fileobj=self._raw, mode="rb")
                                 if self.compressed else self._raw)

    @property
    def position(self) -> int:
        return self._raw.tell()

    def close(self) -> None:
        if self._text is not self._raw:
            self._text.close()
        self._raw.close()

    def __enter__(self) -> JsonlFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def lines(self) -> Iterator[Line]:
        """Every non-blank line, parsed. Raises OSError / EOFError for a file that cannot be
        read on (a truncated gzip stream raises EOFError at its end)."""
        number = 0
        read = self._text.readline
        while True:
            raw = read(MAX_LINE_BYTES)
            if not raw:
                return
            number += 1
            if not raw.endswith(b"\n") and len(raw) >= MAX_LINE_BYTES:
                while raw and not raw.endswith(b"\n"):  # drop the rest of the line
                    raw = read(MAX_LINE_BYTES)
                yield Line(number, error=f"longer than {MAX_LINE_BYTES:,} bytes")
                continue
            if not raw.strip():
                continue
            yield parse(number, raw)


def parse(number: int, raw: bytes) -> Line:
    """One line as a record (a JSON object), or the reason it is not one."""
    try:
        record = json.loads(raw)
    except UnicodeDecodeError as exc:
        return Line(number, error=f"not UTF-8 ({exc.reason} at byte {exc.start})")
    except json.JSONDecodeError as exc:
        return Line(number, error=f"not JSON: {exc.msg} (column {exc.colno})")
    except RecursionError:
        return Line(number, error="nested too deeply")
    if not isinstance(record, dict):
        return Line(number, error=f"a JSON {type(record).__name__}, not an object")
    return Line(number, record)
