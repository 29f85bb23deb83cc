"""What a newcomer trips over outside the code paths: running a tool with the wrong Python,
event files showing up in `git status`."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_bench_with_a_python_lacking_the_project_says_so() -> None:
    # -S drops site-packages: the same interpreter as one outside the venv.
    done = subprocess.run([sys.executable, "-S", "-m", "bench", "--quick", "fanout"],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 2
    assert "it is not the project's environment" in done.stderr
    assert "make bench" in done.stderr and ".venv/bin/activate" in done.stderr
    assert "unknown" not in done.stderr and "Traceback" not in done.stderr


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(),
                    reason="needs git and a checkout")
def test_event_files_written_to_the_working_directory_are_ignored() -> None:
    names = ["run-20260101-000000-abcd.events", "run-x.events.rank1", "sub/r.events"]
    done = subprocess.run(["git", "check-ignore", "--no-index", *names], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.stdout.split() == names


def test_tui_help_lists_every_key_the_app_binds() -> None:
    from tui_client.app import EsperTui
    from tui_client.cli import build_parser

    text = " ".join(build_parser().format_help().split())
    for binding in EsperTui.BINDINGS:
        key = getattr(binding, "key", "")
        if key and not key.isdigit() and key != "question_mark":
            assert re.search(rf"(^|[\s/]){re.escape(key)}([\s/]|$)", text), key
