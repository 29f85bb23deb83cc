"""What a mapping did with its input: mapped and skipped records by type and reason,
malformed lines, values it had to leave out or clamp. Bounded whatever the input."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

#: Distinct (type, reason) keys and value keys kept; the rest are counted under "other".
MAX_KEYS = 256
#: Malformed lines quoted with their line number (all are counted).
MAX_QUOTED = 20
#: Longest event type name or reason kept in a key.
MAX_NAME = 80
#: Run ids listed (all are counted).
MAX_RUNS_LISTED = 20
OTHER = "(other)"


def _bounded(counter: Counter[str], key: str, n: int = 1) -> None:
    if key not in counter and len(counter) >= MAX_KEYS:
        key = OTHER
    counter[key] += n


@dataclass
class MapReport:
    """Counts of one mapping run (a file import or a live bridge)."""

    records: int = 0
    mapped: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    malformed: int = 0
    quoted: list[tuple[int, str]] = field(default_factory=list)
    omitted: Counter[str] = field(default_factory=Counter)
    clamped: Counter[str] = field(default_factory=Counter)
    #: EPOCH_COMPLETED sent without a reward: no decision of the same epoch followed.
    unpaired_epochs: int = 0
    #: The first MAX_RUNS_LISTED run ids, and how many runs there were.
    runs: list[str] = field(default_factory=list)
    n_runs: int = 0

    def new_run(self, run_id: str) -> None:
        self.n_runs += 1
        if len(self.runs) < MAX_RUNS_LISTED:
            self.runs.append(run_id)

    def run_list(self) -> str:
        """ "a, b" or "a, b and 3 more"."""
        more = self.n_runs - len(self.runs)
        return ", ".join(self.runs) + (f" and {more:,} more" if more > 0 else "") or "none"

    def map(self, label: str) -> None:
        _bounded(self.mapped, label[:MAX_NAME])

    def skip(self, label: str, reason: str) -> None:
        _bounded(self.skipped, f"{label[:MAX_NAME]}: {reason[:MAX_NAME]}")

    def bad_line(self, line: int, why: str) -> None:
        self.malformed += 1
        if len(self.quoted) < MAX_QUOTED:
            self.quoted.append((line, why[:200]))

    @property
    def n_mapped(self) -> int:
        return sum(self.mapped.values())

    @property
    def n_skipped(self) -> int:
        return sum(self.skipped.values())

    def lines(self) -> list[str]:
        """The report for a person: what was skipped and changed, most frequent first."""
        out = [f"skipped {n:,} {key}" for key, n in self.skipped.most_common()]
        for line, why in self.quoted:
            out.append(f"malformed line {line:,} skipped: {why}")
        if self.malformed > len(self.quoted):
            out.append(f"... {self.malformed - len(self.quoted):,} more malformed lines")
        for key, n in self.omitted.most_common():
            out.append(f"left out {n:,} non-finite {key}")
        for key, n in self.clamped.most_common():
            out.append(f"clamped or cut {n:,} {key}")
        if self.unpaired_epochs:
            out.append(f"{self.unpaired_epochs:,} EPOCH_COMPLETED without a decision of the "
                       "same epoch: their reward is unknown (0)")
        return out
