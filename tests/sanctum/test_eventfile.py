"""Event files others can read: a header (magic, version) and a CRC-32 per record; an
incomplete last record is reported and skipped, a damaged one is named; format-1 files are
still read; `esper-sanctum ingest` says all this to the user and loads what is intact."""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_common.eventfile import (
    HEADER,
    MAGIC,
    EventFileError,
    Truncated,
    open_append,
    read_batches,
    write_batch,
)
from testkit import ThreadedSanctum, build_run_events


def _write(path: Path, batches: list[tpb.EventBatch]) -> list[int]:
    """The file with one record per batch; returns each record's start offset."""
    starts = []
    with open(path, "wb") as fh:
        for batch in batches:
            starts.append(fh.tell() if fh.tell() else len(HEADER))
            write_batch(fh, batch)
    return starts


def _batches(run: str = "ef", n: int = 3) -> list[tpb.EventBatch]:
    events = build_run_events(run, "p0", n_batches=n)
    size = len(events) // n + 1
    return [tpb.EventBatch(events=events[i:i + size]) for i in range(0, len(events), size)]


def test_layout_is_header_then_length_crc_payload(tmp_path: Path) -> None:
    """Readable by any language from the module docstring: checked byte by byte."""
    path = tmp_path / "a.events"
    batch = _batches(n=1)[0]
    _write(path, [batch])
    raw = path.read_bytes()
    assert raw[:8] == MAGIC == b"\x89EEV\r\n\x1a\n"
    assert struct.unpack(">I", raw[8:12]) == (2,)
    size, crc = struct.unpack(">II", raw[12:20])
    payload = raw[20:]
    assert size == len(payload) and crc == zlib.crc32(payload)
    assert tpb.EventBatch.FromString(payload) == batch


def test_an_incomplete_last_record_is_reported_and_skipped(tmp_path: Path) -> None:
    path = tmp_path / "cut.events"
    batches = _batches()
    starts = _write(path, batches)
    full = path.read_bytes()
    for cut in (starts[-1] + 3, starts[-1] + 8, starts[-1] + 20, len(full) - 1):
        path.write_bytes(full[:cut])
        seen: list[Truncated] = []
        assert list(read_batches(path, seen.append)) == batches[:-1]
        assert seen == [Truncated(str(path), starts[-1], cut - starts[-1])]
    # A torn write: the last record's full length is there, but not its bytes.
    path.write_bytes(full[:-5] + b"\0" * 5)
    seen = []
    assert list(read_batches(path, seen.append)) == batches[:-1] and seen


def test_a_damaged_record_mid_file_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "bad.events"
    batches = _batches()
    starts = _write(path, batches)
    raw = bytearray(path.read_bytes())
    raw[starts[1] + 30] ^= 0xFF
    path.write_bytes(bytes(raw))
    got = []
    with pytest.raises(EventFileError, match=f"record at byte {starts[1]} fails its checksum"):
        for batch in read_batches(path):
            got.append(batch)
    assert got == batches[:1]


def test_format_1_files_are_still_read_and_newer_ones_refused(tmp_path: Path) -> None:
    old = tmp_path / "old.events"
    batches = _batches()
    with open(old, "wb") as fh:
        for batch in batches:
            data = batch.SerializeToString()
            fh.write(struct.pack(">I", len(data)) + data)
    assert list(read_batches(old)) == batches
    newer = tmp_path / "new.events"
    newer.write_bytes(MAGIC + struct.pack(">I", 3) + b"\0" * 40)
    with pytest.raises(EventFileError, match="format 3; this esper reads formats 1 and 2"):
        list(read_batches(newer))
    with pytest.raises(EventFileError, match="not an event file of format 2"):
        open_append(old)


def test_appending_continues_a_file_without_a_second_header(tmp_path: Path) -> None:
    path = tmp_path / "app.events"
    batches = _batches()
    for batch in batches:
        with open_append(path) as fh:
            write_batch(fh, batch)
    assert path.read_bytes().count(MAGIC) == 1
    assert list(read_batches(path)) == batches


def _ingest(path: Path, address: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sanctum_svc", "ingest", str(path),
                           "--server", address], capture_output=True, text=True, timeout=60)


def test_ingest_loads_what_is_intact_and_says_what_was_not(tmp_path: Path) -> None:
    path = tmp_path / "run.events"
    batches = _batches("cut-run")
    starts = _write(path, batches)
    path.write_bytes(path.read_bytes()[:starts[-1] + 10])
    with ThreadedSanctum() as sanctum:
        done = _ingest(path, sanctum.address)
        assert done.returncode == 0, done.stderr
        assert "the last record is incomplete" in done.stderr
        assert f"at byte {starts[-1]}" in done.stderr and "Traceback" not in done.stderr
        loaded = sum(len(b.events) for b in batches[:-1])
        assert f"ingest: {loaded} events" in done.stderr
        assert sanctum.cursor("cut-run") == {"p0": batches[-2].events[-1].seq}

        damaged = tmp_path / "damaged.events"
        starts = _write(damaged, _batches("bad-run"))
        raw = bytearray(damaged.read_bytes())
        raw[starts[1] + 30] ^= 0xFF
        damaged.write_bytes(bytes(raw))
        done = _ingest(damaged, sanctum.address)
        assert done.returncode == 2 and "fails its checksum" in done.stderr
        assert "events before it were loaded" in done.stderr
        assert sanctum.cursor("bad-run")  # the first record was loaded

        foreign = tmp_path / "foreign.events"
        foreign.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 32)
        done = _ingest(foreign, sanctum.address)
        assert done.returncode == 2 and "is not an esper event file" in done.stderr
