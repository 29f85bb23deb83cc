"""An import cut short (the stream ended, the file was still being written) continues from
sanctum's cursor: the result is the same as one uninterrupted import, nothing applied twice."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from sanctum_svc.import_progress import ByteProgress
from sanctum_svc.importer import PRODUCER_ID, Importer
from testkit import ThreadedSanctum
from tests.bridge.original import FIXTURE, records, run_import, state, write

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def reference() -> tuple[str, dict[str, object]]:
    """The state after one uninterrupted import of the fixture."""
    with ThreadedSanctum() as server:
        assert run_import(FIXTURE, server.address).returncode == 0
        run_id = server.snapshot().run_id
        return run_id, state(server.snapshot(run_id))


def test_an_interrupted_stream_continues_where_it_stopped(reference) -> None:
    run_id, expected = reference
    with ThreadedSanctum() as server, server.channel() as channel:
        importer = Importer(FIXTURE, channel, server.metadata, ByteProgress("t", enabled=False))
        first = list(itertools.islice(importer.requests(), 3))  # then the import "dies"
        sent = sum(len(r.batch.events) for r in first)
        reply = server.stub(channel).Ingest(iter(first), metadata=server.metadata)
        assert reply.events_applied == sent > 0
        assert server.cursor(run_id, PRODUCER_ID)[PRODUCER_ID] == sent

        again = run_import(FIXTURE, server.address)
        assert again.returncode == 0, again.stderr
        assert re.search(rf"{sent:,} already in sanctum", again.stdout)
        snap = server.snapshot(run_id)
        assert snap.delivery.events_duplicate == 0
        assert state(snap) == expected


def test_a_file_imported_while_written_then_complete(reference, tmp_path: Path) -> None:
    """The original appends while training; importing the file twice (early, then when it
    is complete) applies every event once."""
    run_id, expected = reference
    lines = records(FIXTURE)
    cut = len(lines) * 2 // 3
    partial = write(tmp_path / "partial.jsonl", [*lines[:cut]])
    with ThreadedSanctum() as server:
        assert run_import(partial, server.address).returncode == 0
        early = server.snapshot(run_id).delivery.events_applied
        full = run_import(FIXTURE, server.address)
        assert full.returncode == 0, full.stderr
        snap = server.snapshot(run_id)
        assert snap.delivery.events_applied == expected["applied"] > early
        assert snap.delivery.events_duplicate == 0
        got = state(snap)
        for key in ("lifecycle", "groups", "decisions", "config"):
            assert got[key] == expected[key], key
