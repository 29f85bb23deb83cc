"""The README walk-through: its runnable commands run, as printed, against live servers.

Every fenced `bash` block of README.md carries a marker on the line before it:

    <!-- walkthrough: run [needs=tool,...] -->   run it
    <!-- walkthrough: background -->             start it (one server command) and wait
                                                  for its listening line
    <!-- walkthrough: skip REASON -->            not run here; the reason is required

The blocks of one `##` section run in order in one bash (so `export` and `cd` carry on) with
`set -euo pipefail`, `.venv/bin` first on PATH, a scratch HOME and working folder. A
section's background servers stop at its end. Placeholders become this machine's: port
50051 becomes a free port (the section's own server if it starts one, else a sanctum this
test starts holding a finished run `first-run`), `gpu-box` and `HOST` become `localhost`, and
`0.0.0.0` becomes `127.0.0.1` (tests listen on loopback only).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from testkit import ThreadedSanctum, build_run_events, free_port

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
MARKER = re.compile(r"^\s*<!-- walkthrough: (run|background|skip)\b(.*?)-->\s*$")
FENCE = re.compile(r"^(\s*)```(\S*)\s*$")
pytestmark = pytest.mark.slow


@dataclass
class Block:
    line: int
    kind: str  # run | background | skip
    detail: str  # skip reason, or `needs=...`
    code: str

    @property
    def needs(self) -> list[str]:
        m = re.search(r"needs=(\S+)", self.detail)
        return m.group(1).split(",") if m else []


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)


def parse(text: str) -> tuple[list[Section], list[int]]:
    """README sections with their marked bash blocks, and the lines of unmarked ones."""
    sections = [Section("(top)")]
    unmarked: list[int] = []
    lines = text.splitlines()
    marker: tuple[str, str] | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("## "):
            sections.append(Section(line[3:].strip()))
        m = MARKER.match(line)
        fence = FENCE.match(line)
        if m:
            marker = (m.group(1), m.group(2).strip())
        elif fence:
            indent, lang = fence.groups()
            body: list[str] = []
            i += 1
            while i < len(lines) and not FENCE.match(lines[i]):
                body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i])
                i += 1
            if lang == "bash":
                if marker is None:
                    unmarked.append(i - len(body))
                else:
                    sections[-1].blocks.append(
                        Block(i - len(body), marker[0], marker[1], "\n".join(body)))
            marker = None
        elif line.strip():
            marker = marker if line.lstrip().startswith("<!--") else None
        i += 1
    return [s for s in sections if s.blocks], unmarked


def substitute(code: str, port: int) -> str:
    code = code.replace("0.0.0.0:", "127.0.0.1:").replace(":50051", f":{port}")
    code = re.sub(r"\bgpu-box\b", "localhost", code)
    return re.sub(r"\bHOST\b", "localhost", code)


PRELUDE = """set -euo pipefail
__pids=()
__stop() { for p in "${__pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait || true; }
trap __stop EXIT
__listening() {  # wait for a background server's listening line
  for _ in $(seq 300); do
    grep -q "listening on" "$1" && return 0
    kill -0 "$2" 2>/dev/null || { cat "$1" >&2; return 1; }
    sleep 0.1
  done
  cat "$1" >&2; return 1
}
"""


def script(section: Section, port: int, tag: str) -> tuple[str, list[str]]:
    """The section as one bash script, and the reasons of the blocks it leaves out."""
    out, left_out = [PRELUDE], []
    for n, block in enumerate(section.blocks):
        missing = [tool for tool in block.needs if shutil.which(tool) is None]
        if block.kind == "skip" or missing:
            why = block.detail if block.kind == "skip" else f"needs {', '.join(missing)}"
            assert why, f"README.md:{block.line}: a skipped block must say why"
            left_out.append(f"README.md:{block.line} ({section.title}): {why}")
            continue
        code = substitute(block.code, port)
        out.append(f"echo '### README.md:{block.line}' >&2")
        if block.kind == "background":
            lines = (re.sub(r"(^|\s)#.*$", "", line).strip() for line in code.splitlines())
            command = " ".join(line for line in lines if line)
            log = f"bg-{tag}-{n}.log"
            out.append(f"(exec {command}) > {log} 2>&1 &\n__pids+=($!)\n__listening {log} $!")
        else:
            out.append(code)
    return "\n".join(out) + "\n", left_out


@pytest.fixture(scope="module")
def default_sanctum() -> Iterator[ThreadedSanctum]:
    with ThreadedSanctum() as server:
        server.ingest(build_run_events("first-run", completed=True))
        yield server


def test_every_bash_block_is_marked() -> None:
    sections, unmarked = parse(README.read_text())
    assert unmarked == [], f"README.md lines {unmarked}: bash blocks without a walkthrough marker"
    kinds = [b.kind for s in sections for b in s.blocks]
    assert kinds.count("run") >= 6 and "background" in kinds


@pytest.mark.timeout(600)  # every README command for real: past 180 s only under load
def test_readme_walkthrough(tmp_path: Path, default_sanctum: ThreadedSanctum) -> None:
    sections, _ = parse(README.read_text())
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    home.mkdir()
    venv = Path(sys.executable).parent.parent
    for name, target in ((".venv", venv), ("scripts", ROOT / "scripts"),
                         ("tests", ROOT / "tests"), ("examples", ROOT / "examples")):
        (work / name).symlink_to(target)
    # A copy, not a link: the README's `npm ci` empties node_modules before it installs, and
    # in the checkout that would pull the packages from under the Node tests of the other
    # pytest worker (CI failed that way).
    shutil.copytree(ROOT / "clients", work / "clients", ignore=shutil.ignore_patterns(
        "node_modules", "dist", ".build.lock"))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ESPER_", "XDG_", "VIRTUAL_ENV"))}
    env.update(HOME=str(home), PATH=f"{venv / 'bin'}:{env.get('PATH', '')}",
               PYTHONUNBUFFERED="1")
    default_port = int(default_sanctum.address.rsplit(":", 1)[1])
    left_out: list[str] = []
    for n, section in enumerate(sections):
        own = any(b.kind == "background" for b in section.blocks)
        text, skipped = script(section, free_port() if own else default_port, str(n))
        left_out += skipped
        done = subprocess.run(["bash", "-c", text], cwd=work, env=env, capture_output=True,
                              text=True, timeout=300)
        where = re.findall(r"^### (README\.md:\d+)$", done.stderr, re.M)
        assert done.returncode == 0, (
            f"section '{section.title}' failed at {where[-1] if where else '?'}:\n"
            f"--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}")
        assert "Traceback" not in done.stdout + done.stderr, section.title
    print("\nREADME blocks not run here:\n  " + "\n  ".join(left_out))
