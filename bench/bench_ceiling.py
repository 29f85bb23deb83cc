"""How far can sanctum's ingest go by speeding up its costly steps? Remove them and see.

A sanctum process fed the original's 3,830-event mix over one IngestStream (window 8, as
the producer client sends), as shipped and with steps of the ingest path removed
(bench/ceiling_server.py): validation; validation and the store (SQLite, series index);
validation, the store and apply. Each variant's rate bounds what making the removed steps
free could give; beside them the do-nothing gRPC server in its own process (the raw
transport) and, when the original's source is given, the original's in-process
`process_event` rate on its fixture. Interleaved rounds, medians.

    ESPER_ORIGINAL_PYTHONPATH=... python -m bench [--quick] ceiling
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

from bench import Row, register, row
from bench.bench_original import BATCH, WINDOW, _bidi, fixture_path, original_rates
from bench.bench_sanctum import NullSanctumProcess
from testkit import SanctumProcess, batches
from testkit.original_mix import original_mix

SERVER = Path(__file__).with_name("ceiling_server.py")
#: (label, steps removed)
VARIANTS = (("as shipped", ""), ("without validation", "validate"),
            ("without validation and store", "validate,store"),
            ("without validation, store and apply", "validate,store,apply"))


class CeilingProcess(SanctumProcess):
    """A sanctum process with `skip` steps removed (bench/ceiling_server.py)."""

    def __init__(self, store: str, skip: str) -> None:
        super().__init__(store)
        self.skip = skip

    def command(self) -> list[str]:
        return [sys.executable, str(SERVER), "--skip", self.skip, *super().command()[3:]]


def _rate(address: str, run_id: str, n_batches: int) -> float:
    _bidi(address, list(batches(original_mix(f"{run_id}-warm", n_batches=1), BATCH)))
    return _bidi(address, list(batches(original_mix(run_id, n_batches=n_batches), BATCH)))


@register("ceiling")
def bench_ceiling(quick: bool) -> list[Row]:
    rounds, n_batches = (2, 2) if quick else (5, 5)
    rates: dict[str, list[float]] = {label: [] for label, _ in VARIANTS}
    raw: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            for label, skip in VARIANTS:
                with CeilingProcess(str(Path(tmp) / f"{r}-{skip or 'all'}.sqlite"),
                                    skip) as server:
                    rates[label].append(_rate(server.address, f"c{r}", n_batches))
            with NullSanctumProcess() as null:
                raw.append(_rate(null.address, f"n{r}", n_batches))
    fixture = fixture_path()
    orig = original_rates(fixture, rounds) if fixture is not None else "fixture not found"
    base = None if isinstance(orig, str) else statistics.median(orig["rates"])
    raw_rate = statistics.median(raw)
    mix = f"mix, IngestStream window {WINDOW}, sanctum process"
    rows = [row(f"ceiling: raw gRPC transport process ({mix})", raw_rate, "events/s",
                "reference", "")]
    for label, _ in VARIANTS:
        rate = statistics.median(rates[label])
        ref = f"{rate / raw_rate * 100:.0f}% of raw"
        if base is not None:
            ref += f", x{rate / base:.2f} the original in-process"
        rows.append(row(f"ceiling: sanctum {label} ({mix})", rate, "events/s", ref, ""))
    if base is None:
        rows.append(row("ceiling: original in-process process_event", "n/a", "", str(orig), ""))
    else:
        rows.append(row("ceiling: original in-process process_event (fixture)", base,
                        "events/s", f"x3 = {3 * base:,.0f}/s (issue 15's ingest goal)", ""))
    return rows
