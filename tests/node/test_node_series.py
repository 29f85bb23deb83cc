"""The Node client's `series RUN METRIC` against a live sanctum: a downsampled series with
its planted spike, equal to what the Series RPC gives the Python client."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from esper.sanctum.v2 import sanctum_pb2 as spb
from testkit import ThreadedSanctum
from testkit.events import synthetic_ppo_run
from tests.node.test_node_client import built, node  # noqa: F401 - the build fixture

pytestmark = pytest.mark.node

KL = "ppo_update.kl_divergence"


def test_series_prints_the_downsampled_metric(built: Path) -> None:  # noqa: F811
    with ThreadedSanctum() as s:
        s.ingest(synthetic_ppo_run(5000, run_id="nrun", planted={3210: 7.5}), batch_size=1000)
        done = node(built, "--server", s.address, "series", "nrun", KL, "--points", "200")
        assert done.returncode == 0, done.stderr
        header, *rows = done.stdout.splitlines()
        assert header == (f"# nrun {KL}: {len(rows)} of 5000 points, downsampled from 5000 "
                          "(min/max per bucket)")
        points = [row.split("\t") for row in rows]
        assert 100 < len(points) <= 200
        steps = [int(p[0]) for p in points]
        values = [float(p[2]) for p in points]
        assert max(values) == 7.5 and steps[values.index(7.5)] == 3210
        with s.channel() as ch:
            want = s.stub(ch).Series(spb.SeriesRequest(
                run_id="nrun", series=[spb.SeriesSelector(name=KL)], max_points=200)).series[0]
        assert steps == list(want.steps) and values == list(want.values)
        assert datetime.fromisoformat(points[0][1]).timestamp() == pytest.approx(
            want.times[0], abs=1e-3)

        listing = node(built, "--server", s.address, "series", "nrun")
        assert listing.returncode == 0 and f"{KL}\t5000 points" in listing.stdout
        missing = node(built, "--server", s.address, "series", "nrun", "no.such")
        assert missing.returncode == 2 and "no series 'no.such'" in missing.stderr
        unknown = node(built, "--server", s.address, "series", "nope", KL)
        assert unknown.returncode == 1 and "NotFound" in unknown.stderr
