"""The Node client lists every run of a server that holds more than one ListRuns page."""

from __future__ import annotations

from pathlib import Path

from testkit import ThreadedSanctum
from tests.node.test_node_client import built, node, pytestmark  # noqa: F401 (fixture, marks)


def test_list_pages_through_every_run(built: Path) -> None:  # noqa: F811
    ids = [f"run-{i:04d}" for i in range(1500)]  # more than one page of the client's 1000
    with ThreadedSanctum() as server:
        def create() -> None:
            assert server.server is not None
            for i, run_id in enumerate(ids):
                server.server.aggregator.get_or_create(run_id).apply_many([], 1e9 + i)
        server.in_loop(create)
        listed = node(built, "--server", server.address, "list")
    assert listed.returncode == 0, listed.stderr
    assert [line.split("\t")[0] for line in listed.stdout.splitlines()] == ids[::-1]
