"""scripts/check_breaking.sh: `buf breaking` fails on an incompatible contract change.

Each test builds a throwaway git repository holding a copy of proto/ and buf.yaml, commits a
change, and runs the real script with the real buf against the previous commit.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "check_breaking.sh"
BUF = ROOT / ".venv" / "bin" / "buf"
SANCTUM_PROTO = Path("proto/esper/sanctum/v2/sanctum.proto")

pytestmark = pytest.mark.skipif(
    shutil.which("git") is None or not (BUF.exists() or shutil.which("buf")),
    reason="needs git and buf (buf-bin from the dev extras)",
)


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    done = subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True, env=env)
    return done.stdout


def _run(repo: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BUF": str(BUF) if BUF.exists() else "buf"}
    env.pop("BUF_BREAKING_AGAINST", None)
    return subprocess.run([str(SCRIPT), str(repo)], capture_output=True, text=True, env=env,
                          timeout=60)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repo whose first commit holds today's contracts."""
    r = tmp_path / "repo"
    shutil.copytree(ROOT / "proto", r / "proto")
    shutil.copy(ROOT / "buf.yaml", r / "buf.yaml")
    _git(r, "init", "-q", "-b", "main")
    _git(r, "add", ".")
    _git(r, "commit", "-qm", "contracts v1")
    return r


def _edit_and_commit(repo: Path, old: str, new: str) -> None:
    path = repo / SANCTUM_PROTO
    text = path.read_text()
    assert old in text, f"fixture out of date: {old!r} not in {SANCTUM_PROTO}"
    path.write_text(text.replace(old, new, 1))
    _git(repo, "commit", "-qam", "edit contracts")


def test_renumbered_field_fails(repo: Path) -> None:
    _edit_and_commit(repo, "  uint64 version = 2;\n  Liveness liveness = 3;",
                     "  uint64 version = 9;\n  Liveness liveness = 3;")
    done = _run(repo)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "against HEAD~1" in done.stdout
    assert 'field "2" with name "version" on message "Heartbeat"' in done.stdout
    assert "BREAKING" in done.stderr


def test_deleted_field_fails_even_when_reserved(repo: Path) -> None:
    # FILE rules: within v1 a field is never deleted (generated code would break), reserved or not.
    _edit_and_commit(repo, "  double seconds_since_last_event = 4;\n}",
                     '  reserved 4;\n  reserved "seconds_since_last_event";\n}')
    done = _run(repo)
    assert done.returncode == 1
    assert 'name "seconds_since_last_event" on message "Heartbeat" was deleted' in done.stdout


def test_additive_field_passes(repo: Path) -> None:
    _edit_and_commit(repo, "  double seconds_since_last_event = 4;\n}",
                     "  double seconds_since_last_event = 4;\n  string note = 5;\n}")
    done = _run(repo)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no breaking changes" in done.stdout


def test_uncommitted_change_is_checked(repo: Path) -> None:
    _edit_and_commit(repo, "message GetSnapshotRequest {", "message GetSnapshotRequest {\n")
    path = repo / SANCTUM_PROTO
    path.write_text(path.read_text().replace("uint64 version = 2;", "uint32 version = 2;", 1))
    assert _git(repo, "status", "--porcelain").strip()  # the change is not committed
    done = _run(repo)
    assert done.returncode == 1
    assert 'changed type from "uint64" to "uint32"' in done.stdout


def test_single_commit_skips_with_reason(repo: Path) -> None:
    done = _run(repo)
    assert done.returncode == 0
    assert "skipped" in done.stdout and "no commit before" in done.stdout


def test_shallow_clone_skips_with_reason(repo: Path, tmp_path: Path) -> None:
    _edit_and_commit(repo, "message GetSnapshotRequest {", "message GetSnapshotRequest {\n")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{repo}", str(clone)],
                   check=True, capture_output=True)
    done = _run(clone)
    assert done.returncode == 0
    assert "shallow clone" in done.stdout


def test_branch_compares_against_merge_base_with_main(repo: Path) -> None:
    _git(repo, "checkout", "-qb", "feature")
    _edit_and_commit(repo, "  uint64 version = 2;\n  Liveness liveness = 3;",
                     "  uint64 version = 9;\n  Liveness liveness = 3;")
    _edit_and_commit(repo, "message GetSnapshotRequest {", "message GetSnapshotRequest {\n")
    done = _run(repo)
    # HEAD~1 already holds the renumbering; the merge-base with main does not.
    assert done.returncode == 1
    assert "contracts v1" in done.stdout


def _older_sanctum(repo: Path, version: str) -> Path:
    """Write the sanctum contract as package esper.sanctum.<version> beside the current one."""
    text = (repo / SANCTUM_PROTO).read_text().replace("package esper.sanctum.v2;",
                                                      f"package esper.sanctum.{version};")
    path = repo / "proto" / "esper" / "sanctum" / version / "sanctum.proto"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    return path


def _add_then_remove(repo: Path, version: str) -> subprocess.CompletedProcess[str]:
    """Commit sanctum as esper.sanctum.<version> beside v2, then a commit removing it; run
    the check on the removal."""
    old = _older_sanctum(repo, version)
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", f"sanctum {version} and v2 side by side")
    old.unlink()
    old.parent.rmdir()
    _git(repo, "commit", "-qam", f"drop sanctum {version}")
    return _run(repo)


def test_package_superseded_by_a_higher_version_may_be_removed(repo: Path) -> None:
    done = _add_then_remove(repo, "v1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert ("proto/esper/sanctum/v1 removed, superseded by proto/esper/sanctum/v2"
            in done.stdout)
    assert "no breaking changes" in done.stdout


def test_removed_package_without_a_higher_version_fails(repo: Path) -> None:
    # v3 is removed while only v2 (lower) remains: that is a deletion, not an upgrade.
    done = _add_then_remove(repo, "v3")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "superseded" not in done.stdout
    assert "esper/sanctum/v3/sanctum.proto" in done.stdout and "deleted" in done.stdout
