"""Append-only spool segments on local disk, where events wait while sanctum is unreachable.

Each segment is an event file (esper_common.eventfile: a header, then checksummed EventBatch
records), so a segment left behind can still be loaded with `esper-sanctum ingest`.
Segments are read back oldest first and deleted once every event in them was acknowledged.
"""

from __future__ import annotations

import contextlib
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_client.wire import encode_batch
from esper_common.eventfile import HEADER, RECORD, read_record, write_batch_bytes

#: One buffered event: (seq, event_type, serialized TelemetryEvent).
Item = tuple[int, tpb.EventType, bytes]


def split_batch(record: bytes) -> list[bytes]:
    """The serialized events of an EventBatch written by encode_batch (field 1 entries only)."""
    out: list[bytes] = []
    pos, end = 0, len(record)
    while pos < end:
        if record[pos] != 0x0A:
            raise ValueError(f"unexpected tag {record[pos]:#x} in spool record")
        pos += 1
        size = shift = 0
        while True:
            byte = record[pos]
            pos += 1
            size |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        out.append(record[pos : pos + size])
        pos += size
    return out


@dataclass
class _Segment:
    path: Path
    size: int = 0
    read_offset: int = 0
    unread_events: int = 0
    last_seq: int = 0
    writer: BinaryIO | None = None
    reader: BinaryIO | None = field(default=None, repr=False)


class Spool:
    """Ordered overflow storage: append() at the tail, read() from the head, ack_through()."""

    def __init__(self, directory: Path, segment_bytes: int) -> None:
        self.directory = directory
        self.segment_bytes = segment_bytes
        self._segments: deque[_Segment] = deque()
        self._counter = 0
        self.unread_bytes = 0
        self.unread_events = 0
        self.bytes_written = 0

    def append(self, items: list[Item]) -> None:
        """Write items as one record at the tail. Raises OSError (disk full, unwritable)."""
        if not items:
            return
        data = encode_batch(item[2] for item in items)
        seg = self._segments[-1] if self._segments else None
        if seg is None or seg.writer is None or seg.size >= self.segment_bytes:
            seg = self._new_segment()
        writer = seg.writer
        assert writer is not None  # a new segment is open for writing
        written = write_batch_bytes(writer, data)
        writer.flush()
        n = RECORD.size + len(data)  # the record; `written` may include the file's header
        seg.size += written
        seg.unread_events += len(items)
        seg.last_seq = items[-1][0]
        self.unread_bytes += n
        self.unread_events += len(items)
        self.bytes_written += written

    def read(self) -> list[Item]:
        """The next record's items, oldest first; [] when nothing is unread."""
        for seg in self._segments:
            if seg.read_offset >= seg.size:
                continue
            if seg.reader is None:
                seg.reader = open(seg.path, "rb")  # noqa: SIM115 - kept open across reads
            seg.reader.seek(max(seg.read_offset, len(HEADER)))
            record = read_record(seg.reader, str(seg.path))
            if record is None:
                raise OSError(f"spool segment {seg.path} ends before its recorded size")
            size = len(record)
            seg.read_offset = seg.reader.tell()
            datas = split_batch(record)
            batch = tpb.EventBatch.FromString(record)
            items = [(ev.seq, ev.event_type, d) for ev, d in zip(batch.events, datas, strict=True)]
            seg.unread_events -= len(items)
            self.unread_bytes -= RECORD.size + size
            self.unread_events -= len(items)
            if seg.read_offset >= seg.size and seg is not self._segments[-1]:
                seg.reader.close()
                seg.reader = None
            return items
        return []

    def ack_through(self, seq: int) -> None:
        """Delete fully read segments whose events all have seq <= `seq`."""
        while self._segments:
            seg = self._segments[0]
            if seg.read_offset < seg.size or seg.last_seq > seq:
                return
            self._segments.popleft()
            self._close_segment(seg, delete=True)

    def close(self, delete: bool = True) -> None:
        """Close every segment (deleting the files unless `delete` is False)."""
        while self._segments:
            self._close_segment(self._segments.popleft(), delete=delete)
        self.unread_bytes = self.unread_events = 0
        if delete:
            # Not empty (someone else's files) or never created: leave it.
            with contextlib.suppress(OSError):
                self.directory.rmdir()

    @property
    def segment_count(self) -> int:
        return len(self._segments)

    def _new_segment(self) -> _Segment:
        if self._segments and self._segments[-1].writer is not None:
            self._segments[-1].writer.close()
            self._segments[-1].writer = None
        self.directory.mkdir(parents=True, exist_ok=True)
        self._counter += 1
        seg = _Segment(self.directory / f"seg-{self._counter:06d}.events")
        seg.writer = open(seg.path, "ab")  # noqa: SIM115 - closed on rotation/close
        self._segments.append(seg)
        return seg

    @staticmethod
    def _close_segment(seg: _Segment, delete: bool) -> None:
        for fh in (seg.writer, seg.reader):
            if fh is not None:
                fh.close()
        seg.writer = seg.reader = None
        if delete:
            seg.path.unlink(missing_ok=True)
