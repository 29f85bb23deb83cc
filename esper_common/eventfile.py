"""Event files: what `esper-trainer` writes without `--sanctum`, and `esper-sanctum ingest` reads.

Format: a sequence of records, each a 4-byte big-endian length then a serialized
`esper.telemetry.v1.EventBatch`. Append-only, so a crash loses at most the last record,
which the reader detects and reports instead of raising.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from esper.telemetry.v1 import telemetry_pb2 as tpb

_LEN = struct.Struct(">I")
MAX_RECORD_BYTES = 64 * 1024 * 1024


class EventFileError(ValueError):
    """The file is not an event file, or a record is corrupt."""


def write_batch(fh: BinaryIO, batch: tpb.EventBatch) -> None:
    """Append one batch record."""
    data = batch.SerializeToString()
    fh.write(_LEN.pack(len(data)))
    fh.write(data)


def write_batch_bytes(fh: BinaryIO, data: bytes) -> None:
    """Append one record whose payload is an already-serialized EventBatch."""
    fh.write(_LEN.pack(len(data)) + data)


def read_batches(path: str | Path) -> Iterator[tpb.EventBatch]:
    """Yield every complete batch; a truncated final record (crash mid-write) is skipped."""
    with open(path, "rb") as fh:
        offset = 0
        while True:
            head = fh.read(_LEN.size)
            if len(head) < _LEN.size:
                return
            (size,) = _LEN.unpack(head)
            if size > MAX_RECORD_BYTES:
                raise EventFileError(f"{path}: record at byte {offset} claims {size} bytes")
            data = fh.read(size)
            if len(data) < size:
                return
            try:
                yield tpb.EventBatch.FromString(data)
            except Exception as exc:  # protobuf raises DecodeError
                raise EventFileError(f"{path}: corrupt record at byte {offset}: {exc}") from exc
            offset += _LEN.size + size
