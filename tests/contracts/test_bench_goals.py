"""`python -m bench` ends with issue 15's goals beside this run's rows; absent ones say why."""

from __future__ import annotations

from bench import row
from bench.goals import GOALS, format_goals, goal_rows


def test_each_goal_shows_its_row_or_how_to_measure_it() -> None:
    rows = [
        row("emit() -> TUI repaint p99 (pilot, 2,000 ev/s)", 87.5, "ms", "400 ms at 4 Hz",
            "<= 100 ms", True),
        row("sanctum ingest / raw transport (mix, IngestStream)", 41.0, "%", "rounds 40-42%",
            ">= 60%", False),
        row("original in-process process_event (fixture)", "n/a", "",
            "set ESPER_ORIGINAL_PYTHONPATH to the original's src (and numpy)", ""),
    ]
    shown = {g[0]: g for g in goal_rows(rows, ["tui_freshness", "original"])}
    assert len(shown) == len(GOALS)
    assert shown["emit() -> TUI repaint p99 (pilot)"][1:] == (
        "87.5 ms", "400 ms at 4 Hz", "<= 100 ms", "yes")
    assert shown["ingest, 3,830-event mix / raw transport"][4] == "NO"
    original = shown["ingest, 3,830-event mix / original in-process"]
    assert original[1] == "—" and "ESPER_ORIGINAL_PYTHONPATH" in original[2]
    assert shown["emit() -> subscriber p99, 32 subs, 2,000 ev/s"][2] == (
        "not run: python -m bench freshness")
    bytes_goal = shown["snapshot update bytes, 12 envs (TUI stream: delta, gzip)"]
    assert bytes_goal[2] == "not run: python -m bench delta_size"
    text = format_goals(rows, ["tui_freshness", "original"])
    assert text.splitlines()[0].startswith("issue 15 goal")
    assert len(text.splitlines()) == len(GOALS) + 2


def test_a_goal_measured_twice_shows_the_row_that_missed_it() -> None:
    rows = [row("emit() -> subscriber p99, adaptive flush, 32 subs", 45.0, "ms", "thread",
                "<= 50 ms", True),
            row("emit() -> subscriber p99, adaptive flush, sender process, 32 subs", 80.0,
                "ms", "process", "<= 50 ms", False)]
    shown = {g[0]: g for g in goal_rows(rows, ["freshness"])}
    assert shown["emit() -> subscriber p99, 32 subs, 2,000 ev/s"][1:3] == ("80 ms", "process")
    rows[1]["value"], rows[1]["passed"] = 45.2, True
    shown = {g[0]: g for g in goal_rows(rows, ["freshness"])}
    assert shown["emit() -> subscriber p99, 32 subs, 2,000 ev/s"][1:3] == ("45 ms", "thread")


def test_training_overhead_interval_brackets_the_mean_and_shrinks_with_rounds() -> None:
    from bench.bench_trainer import mean_interval

    few = [0.5, 1.2, -0.3, 0.8, 0.1, 0.9]
    mean, low, high = mean_interval(few)
    assert low < mean < high
    _, low4, high4 = mean_interval(few * 4)
    assert high4 - low4 < (high - low) * 0.7
