"""The sender child's report to the training process: a few int64 counters in a shared
memory page (an unlinked temp file both processes map), so that reading them costs the
training process no system call, no pipe and no thread.

The child is the only writer. A version number, odd while a write is under way (a seqlock),
lets the reader take a consistent copy: `safe` and the counters always describe the same
moment, which is what resending after a crash relies on (see esper_client.sidecar).
"""

from __future__ import annotations

import mmap
import os
import pickle
import struct
import tempfile
import time
from typing import Any, BinaryIO

from esper_client.ahead import KINDS

#: Counter names after the header. `safe`: every event with seq <= safe that the child
#: received is finished with and counted (acknowledged by sanctum, written to the event file
#: or the undelivered file, rejected, or dropped by the policy): the parent may forget it.
#: `received`: the highest seq the child was handed. `<kind>_ahead`: how many of the events
#: counted as rejected, dropped, undelivered or lost have a seq past `safe` (the parent still
#: holds those, and hands them to the next sender if this one dies: esper_client.ahead).
COUNTERS = ("sent", "resent", "acked", "spooled", "dropped", "rejected", "diverted",
            "undelivered", "lost", "reconnects", "errors", "batches", "duplicate",
            "conflicting", "pending", "spool_segments", "cpu_ns")
HEADER = ("version", "ready", "done", "safe", "received", *(f"{k}_ahead" for k in KINDS))
_FIELDS = HEADER + COUNTERS
_FMT = struct.Struct(f"<{len(_FIELDS)}q")
SIZE = mmap.PAGESIZE
#: A frame on the pipe to the child: its length, then a pickle.
FRAME = struct.Struct("<I")


def read_frame(stream: BinaryIO) -> Any:
    """The next pickled frame, or None at EOF."""
    head = stream.read(FRAME.size)
    if len(head) < FRAME.size:
        return None
    (size,) = FRAME.unpack(head)
    body = stream.read(size)
    if len(body) < size:
        return None
    return pickle.loads(body)  # noqa: S301 - our own parent, over our own pipe


class StatusPage:
    """One mapped page; `write` in the child, `read` in the parent."""

    def __init__(self, fd: int | None = None) -> None:
        self._file: Any = None
        if fd is None:  # the parent: an unlinked file, handed to the child by descriptor
            self._file = tempfile.TemporaryFile()  # noqa: SIM115 - kept for the map's life
            self._file.truncate(SIZE)
            fd = self._file.fileno()
        self.fd = fd
        self._map = mmap.mmap(fd, SIZE)
        self._version = 0

    def write(self, values: dict[str, int]) -> None:
        """Publish `values` (missing names are 0) as one consistent record."""
        self._version += 1  # odd: a write is under way
        struct.pack_into("<q", self._map, 0, self._version)
        rest = _FMT.pack(self._version + 1, *(int(values.get(n, 0)) for n in _FIELDS[1:]))
        self._map[8:_FMT.size] = rest[8:]
        self._version += 1
        struct.pack_into("<q", self._map, 0, self._version)

    def read(self) -> dict[str, int]:
        """A consistent copy of the last record ({} if the child never wrote one)."""
        mm, size = self._map, _FMT.size
        for _ in range(1000):
            raw = mm[:size]
            if raw[0] % 2 == 0 and mm[:8] == raw[:8]:  # even version, unchanged since
                values = _FMT.unpack(raw)
                return dict(zip(_FIELDS, values, strict=True)) if values[0] else {}
            time.sleep(0)
        return {}

    def close(self) -> None:
        self._map.close()
        if self._file is not None:
            self._file.close()
        else:
            os.close(self.fd)
