"""Event files: what `esper-trainer` writes without `--sanctum` (and spools during an outage),
and `esper-sanctum ingest` reads. Readable by any language from this description:

    file    = header record*
    header  = magic (8 bytes: 89 45 45 56 0D 0A 1A 0A, "\\x89EEV\\r\\n\\x1a\\n")
              version (uint32, big-endian: 2)
    record  = length (uint32 BE, bytes of payload) crc (uint32 BE, CRC-32 of payload, the
              zlib/PNG polynomial) payload (a serialized esper.telemetry.v1.EventBatch)

Append-only: a writer killed mid-record leaves an incomplete last record, which the reader
reports and skips (every record before it is intact). A damaged record elsewhere (wrong
checksum) is an error naming its byte offset. Files of format 1 (no header: records of a
4-byte length and the payload, no checksum) are still read; a file of a newer format is
refused with the version it has.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from esper.telemetry.v1 import telemetry_pb2 as tpb

MAGIC = b"\x89EEV\r\n\x1a\n"
VERSION = 2
HEADER = MAGIC + struct.pack(">I", VERSION)
RECORD = struct.Struct(">II")  # length, crc32
_LEGACY = struct.Struct(">I")
MAX_RECORD_BYTES = 64 * 1024 * 1024


class EventFileError(ValueError):
    """The file is not an event file, is of a newer format, or a record is damaged."""


@dataclass(frozen=True)
class Truncated:
    """An incomplete last record: where it starts and how many of its bytes were written."""

    path: str
    offset: int
    size: int

    def __str__(self) -> str:
        return (f"{self.path}: the last record is incomplete ({self.size} bytes at byte "
                f"{self.offset}: its writer stopped mid-write); skipped it, every record "
                "before it was read")


class TruncatedRecord(Exception):
    """The file ends inside a record (`.truncated` says where); not an error of the file."""

    def __init__(self, truncated: Truncated) -> None:
        super().__init__(str(truncated))
        self.truncated = truncated


def encode_record(data: bytes) -> bytes:
    """One record for an already-serialized EventBatch."""
    return RECORD.pack(len(data), zlib.crc32(data)) + data


def write_batch_bytes(fh: BinaryIO, data: bytes) -> int:
    """Append one record (and the header first, at the start of a file); bytes written."""
    out = encode_record(data)
    if fh.tell() == 0:
        out = HEADER + out
    fh.write(out)
    return len(out)


def write_batch(fh: BinaryIO, batch: tpb.EventBatch) -> int:
    """Append one batch record."""
    return write_batch_bytes(fh, batch.SerializeToString())


def open_append(path: str | Path) -> BinaryIO:
    """Open an event file to append to: a new one, or one of this format. An older or
    foreign file is refused (records of two formats in one file could not be read)."""
    fh = open(path, "a+b")  # noqa: SIM115 - the caller closes it
    try:
        if fh.tell():
            fh.seek(0)
            head = fh.read(len(HEADER))
            fh.seek(0, 2)
            if head != HEADER:
                raise EventFileError(
                    f"{path} exists and is not an event file of format {VERSION}; move it "
                    "aside (or load it with esper-sanctum ingest) and try again")
    except BaseException:
        fh.close()
        raise
    return fh


def read_version(fh: BinaryIO, path: str) -> int:
    """The format of the file at fh's start (leaves fh after the header); 1 = no header."""
    head = fh.read(len(HEADER))
    if head[:len(MAGIC)] == MAGIC and len(head) == len(HEADER):
        version = struct.unpack(">I", head[len(MAGIC):])[0]
        if version != VERSION:
            raise EventFileError(f"{path} is an event file of format {version}; this esper "
                                 f"reads formats 1 and {VERSION}: upgrade esper to read it")
        return version
    if head[:1] == MAGIC[:1]:
        raise EventFileError(f"{path} is not an esper event file (unknown header)")
    fh.seek(0)
    return 1


def read_record(fh: BinaryIO, path: str = "event file") -> bytes | None:
    """The next record's payload from a format-2 file at a record boundary; None at the end.
    Raises EventFileError for a damaged record, TruncatedRecord for an incomplete last one."""
    offset = fh.tell()
    head = fh.read(RECORD.size)
    if not head:
        return None
    if len(head) < RECORD.size:
        raise TruncatedRecord(Truncated(path, offset, len(head)))
    size, crc = RECORD.unpack(head)
    if size > MAX_RECORD_BYTES:
        raise EventFileError(f"{path}: record at byte {offset} claims {size} bytes (at most "
                             f"{MAX_RECORD_BYTES}): the file is damaged")
    data = fh.read(size)
    if len(data) < size:
        raise TruncatedRecord(Truncated(path, offset, RECORD.size + len(data)))
    if zlib.crc32(data) != crc:
        if not fh.read(1):  # the last record: written in part before a crash
            raise TruncatedRecord(Truncated(path, offset, RECORD.size + size))
        raise EventFileError(f"{path}: record at byte {offset} fails its checksum: the file "
                             "is damaged there (records before it were read)")
    return data


def _legacy_record(fh: BinaryIO, path: str) -> bytes | None:
    offset = fh.tell()
    head = fh.read(_LEGACY.size)
    if not head:
        return None
    if len(head) < _LEGACY.size:
        raise TruncatedRecord(Truncated(path, offset, len(head)))
    (size,) = _LEGACY.unpack(head)
    if size > MAX_RECORD_BYTES:
        raise EventFileError(f"{path}: record at byte {offset} claims {size} bytes: not an "
                             "esper event file, or a damaged one")
    data = fh.read(size)
    if len(data) < size:
        raise TruncatedRecord(Truncated(path, offset, _LEGACY.size + len(data)))
    return data


def read_batches(path: str | Path,
                 on_truncated: Callable[[Truncated], None] | None = None
                 ) -> Iterator[tpb.EventBatch]:
    """Yield every complete batch. An incomplete last record is skipped and passed to
    `on_truncated`; a damaged record raises EventFileError after the batches before it."""
    name = str(path)
    with open(path, "rb") as fh:
        version = read_version(fh, name)
        while True:
            offset = fh.tell()
            try:
                data = read_record(fh, name) if version == VERSION else _legacy_record(fh, name)
            except TruncatedRecord as tail:
                if on_truncated is not None:
                    on_truncated(tail.truncated)
                return
            if data is None:
                return
            try:
                yield tpb.EventBatch.FromString(data)
            except Exception as exc:  # protobuf raises DecodeError
                raise EventFileError(f"{name}: record at byte {offset} is not an EventBatch "
                                     f"({exc})") from exc
