"""Hand-encoded EventBatch / IngestRequest bytes from already-serialized events.

The sender serializes each event once (when it leaves emit()'s queue) and keeps only the
bytes; batches are then built by concatenation instead of copying messages into a new
EventBatch. The output is byte-for-byte valid protobuf for the messages named below.
"""

from __future__ import annotations

from collections.abc import Iterable

# Field 1 (events / batch), wire type 2; field 2 (drops), wire type 2.
_TAG_FIELD1 = b"\x0a"
_TAG_FIELD2 = b"\x12"


#: The one-byte varints (every length under 128), looked up instead of built.
_SMALL = [bytes((i,)) for i in range(128)]


def varint(value: int) -> bytes:
    """Protobuf base-128 varint of a non-negative int."""
    if value < 0x80:
        return _SMALL[value]
    if value < 0x4000:  # two bytes: most serialized events
        return bytes(((value & 0x7F) | 0x80, value >> 7))
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def encode_batch(events: Iterable[bytes], drops: bytes | None = None) -> bytes:
    """esper.telemetry.v1.EventBatch{events, drops} from serialized TelemetryEvents."""
    parts: list[bytes] = []
    extend, tag = parts.extend, _TAG_FIELD1
    for data in events:
        extend((tag, varint(len(data)), data))
    if drops is not None:
        parts += (_TAG_FIELD2, varint(len(drops)), drops)
    return b"".join(parts)


def encode_ingest_request(batch: bytes) -> bytes:
    """esper.sanctum.v2.IngestRequest{batch} from a serialized EventBatch."""
    return _TAG_FIELD1 + varint(len(batch)) + batch
