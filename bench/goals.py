"""Issue 15's acceptance table: every goal beside the row that measured it in this run.

`python -m bench` prints it under the full table. A goal whose bench did not run, or cannot
run here, says what would measure it instead of passing silently.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench import Row

ORIGINAL_HINT = ("ESPER_ORIGINAL_PYTHONPATH=/path/esper-lite/src[:deps] "
                 "python -m bench original")


@dataclass(frozen=True)
class Goal:
    """One acceptance item: the row that measures it (its name starts with `prefix`), the
    bench that makes that row, and what to do when the row is absent."""

    label: str
    goal: str
    prefix: str
    bench: str
    absent: str = ""

    def find(self, rows: list[Row]) -> Row | None:
        """The first row measuring this goal, or the first that missed it: a goal measured
        twice (the sender thread and the sender process) is met only when both are."""
        matching = [r for r in rows if r["name"].startswith(self.prefix)]
        missed = [r for r in matching if r.get("passed") is False]
        return next(iter(missed or matching), None)


#: Issue 15's goals in its order; row names are the benches' own.
GOALS: tuple[Goal, ...] = (
    Goal("emit() -> subscriber p99, 32 subs, 2,000 ev/s", "<= 50 ms",
         "emit() -> subscriber p99", "freshness"),
    Goal("emit() -> TUI repaint p99 (pilot)", "<= 100 ms",
         "emit() -> TUI repaint p99", "tui_freshness"),
    Goal("ingest, 3,830-event mix / raw transport", ">= 60 %",
         "sanctum ingest / raw transport (mix, IngestStream)", "original"),
    Goal("ingest, mix, sanctum process / raw server process", ">= 60 %",
         "sanctum process / raw transport process (mix, IngestStream)", "original"),
    Goal("ingest, 3,830-event mix / original in-process", ">= 3x",
         "sanctum process (mix, IngestStream) / original in-process", "original",
         f"needs the original's source: {ORIGINAL_HINT}"),
    Goal("fixture replay (original-small.jsonl.gz)", "events/s",
         "sanctum ingest, original fixture replay", "original"),
    Goal("snapshot update bytes, 12 envs (TUI stream: delta, gzip)", "<= 3 KB",
         "bytes/update, delta gzipped, 12 envs, realistic run 2,000 ev/s", "delta_size"),
    Goal("256 subscribers @10 Hz (deltas)", "live, p99 shown",
         "event -> subscriber p99, deltas, 256 subs", "delta_fanout"),
    Goal("training overhead, wall time (paired rounds, 95 % CI)", "< 1 %",
         "trainer: telemetry overhead, wall time, as shipped", "trainer"),
)


def _shown(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def goal_rows(rows: list[Row], ran: list[str]) -> list[tuple[str, str, str, str, str]]:
    """(goal, measured, reference, goal, ok) per goal, from this run's rows."""
    out = []
    for g in GOALS:
        r = g.find(rows)
        if r is not None and r["value"] != "n/a":
            ok = {True: "yes", False: "NO", None: "-"}[r.get("passed")]
            out.append((g.label, f"{_shown(r['value'])} {r['unit']}".strip(),
                        str(r.get("reference", "")), r.get("goal") or g.goal, ok))
            continue
        if g.bench not in ran:
            why = f"not run: python -m bench {g.bench}"
        elif r is not None:
            why = f"not measured: {r.get('reference', '')}"
        else:
            why = f"not measured: {g.absent or 'its row is missing'}"
        out.append((g.label, "—", why, g.goal, "-"))
    return out


def format_goals(rows: list[Row], ran: list[str]) -> str:
    """The acceptance table as text, aligned like the main table."""
    head = ("issue 15 goal", "measured", "reference (same run)", "goal", "ok")
    body = goal_rows(rows, ran)
    widths = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
             for line in [head, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
