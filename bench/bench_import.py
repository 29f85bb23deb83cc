"""Benchmark of `esper-sanctum import` on the original system's real telemetry (not a test).

The fixture (tests/fixtures/original-small.jsonl.gz, 5,735 lines) is appended to itself
K times (each copy is a run of its own) and imported into a real sanctum (in this process)
by the CLI in a subprocess, as a user runs it. Reported: events/s of the whole import, of
the mapping alone (no network), and the reference measured in the same run: reading and
parsing the same lines with `json.loads` and nothing else (the floor of any Python
importer). Memory: the importer's peak RSS for the 1x and the Kx file; streaming means the
Kx file needs no more (goal: at most 1.25x).

Run from the repository root:  .venv/bin/python -m bench.bench_import [--quick]
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import Row, adapt, register
from esper_client.bridge import JsonlFile, Mapper
from testkit import ThreadedSanctum

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "original-small.jsonl.gz"
RSS_GOAL = 1.25


def appended(copies: int, where: Path) -> Path:
    """The fixture appended to itself `copies` times, gzipped."""
    text = gzip.decompress(FIXTURE.read_bytes())
    path = where / f"original-x{copies}.jsonl.gz"
    with gzip.open(path, "wb", compresslevel=1) as f:
        for _ in range(copies):
            f.write(text)
    return path


def parse_rate(path: Path) -> float:
    """Lines/s of reading and json.loads alone."""
    t0 = time.perf_counter()
    n = 0
    with gzip.open(path, "rb") as f:
        for line in f:
            json.loads(line)
            n += 1
    return n / (time.perf_counter() - t0)


def mapping_rate(path: Path) -> tuple[float, float]:
    """(events/s, lines/s) of the bridge's mapping alone."""
    mapper = Mapper()
    events = lines = 0
    t0 = time.perf_counter()
    with JsonlFile(path) as f:
        for line in f.lines():
            lines += 1
            if line.record is not None:
                events += len(mapper.feed(line.record))
    events += len(mapper.close())
    dt = time.perf_counter() - t0
    return events / dt, lines / dt


#: The CLI's main in a fresh interpreter that prints its own peak RSS last: VmHWM, which
#: exec resets (ru_maxrss would include the forking parent's pages).
_WRAPPED = ("import re, sys; from sanctum_svc.cli import main; rc = main(sys.argv[1:]); "
            "status = open('/proc/self/status').read(); "
            "print('peak-rss-kib', re.search(r'VmHWM:\\s+(\\d+)', status).group(1)); "
            "sys.exit(rc)")


def cli_import(path: Path, address: str) -> tuple[float, int]:
    """(events/s reported by the import's summary, the importer's peak RSS in bytes)."""
    done = subprocess.run([sys.executable, "-c", _WRAPPED, "import", str(path),
                           "--server", address, "--quiet"], capture_output=True, text=True,
                          timeout=1800, check=True)
    rate = re.search(r"\(([\d,]+) events/s\)", done.stdout)
    peak = re.search(r"peak-rss-kib (\d+)", done.stdout)
    assert rate and peak, done.stdout
    return float(rate.group(1).replace(",", "")), int(peak.group(1)) * 1024


def run(copies: int) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        small, big = appended(1, Path(tmp)), appended(copies, Path(tmp))
        ref_lines = parse_rate(big)
        map_events, map_lines = mapping_rate(big)
        with ThreadedSanctum() as server:
            _, rss_small = cli_import(small, server.address)
        with ThreadedSanctum() as server:
            rate, rss_big = cli_import(big, server.address)
    return [
        {"name": f"import x{copies}: whole import (CLI -> sanctum)", "value": rate,
         "unit": "events/s", "reference": None, "goal": None, "passed": None},
        {"name": "mapping alone", "value": map_events, "unit": "events/s",
         "reference": None, "goal": None, "passed": None},
        {"name": "mapping alone (lines)", "value": map_lines, "unit": "lines/s",
         "reference": ref_lines, "goal": "ref: json.loads only", "passed": None},
        {"name": f"importer peak RSS x{copies} / x1", "value": rss_big / rss_small,
         "unit": "ratio", "reference": f"{rss_small / 2**20:.0f} MiB at x1",
         "goal": f"<= {RSS_GOAL}", "passed": rss_big / rss_small <= RSS_GOAL},
    ]


@register("import")
def bench_import(quick: bool) -> list[Row]:
    return adapt(run(2 if quick else 10), "import: ")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    for r in run(2 if args.quick else 10):
        print(r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
