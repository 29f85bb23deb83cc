"""What `esper-trainer` tells a user when sanctum cannot be reached: the TLS problem in
plain words, and an `esper-sanctum ingest` command that runs as printed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import grpc

from esper.sanctum.v2 import sanctum_pb2 as spb
from testkit import ThreadedSanctum, free_port
from tests.certs import make_cert
from trainer_svc.cli import build_parser

TINY = ["--episodes", "4", "--envs", "2", "--max-epochs", "4", "--ppo-epochs", "1", "--quiet"]
TOKEN = "hint-token"


def trainer(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "trainer_svc", *TINY, *args],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def test_tls_name_mismatch_is_named_in_the_trainers_output(tmp_path: Path) -> None:
    cert, key = make_cert(tmp_path, "localhost")
    with ThreadedSanctum(tls_cert=cert, tls_key=key, token=TOKEN) as server:
        done = trainer("--sanctum", server.address, "--tls-ca", str(cert), "--token", TOKEN,
                       "--spool-dir", str(tmp_path / "spool"))
    assert done.returncode == 0, done.stderr
    assert "not valid for the name '127.0.0.1' (it names localhost)" in done.stderr
    assert "subjectAltName includes IP:127.0.0.1" in done.stderr
    command = re.search(r"with: (esper-sanctum ingest .*)$", done.stderr, re.M)
    assert command, done.stderr
    assert f"--tls-ca {cert}" in command[1] and '--token "$ESPER_TOKEN"' in command[1]
    assert TOKEN not in done.stderr  # the secret never reaches a log


def test_suggested_ingest_command_runs_as_printed(tmp_path: Path) -> None:
    """Sanctum down for the whole run: the trainer saves its events and prints a command;
    once sanctum is up (TLS + token), that exact line loads every event."""
    cert, key = make_cert(tmp_path, "localhost")
    port = free_port()
    target = f"localhost:{port}"
    done = trainer("--sanctum", target, "--tls-ca", str(cert), "--run-id", "hint-run",
                   "--spool-dir", str(tmp_path / "spool"), env={"ESPER_TOKEN": TOKEN})
    assert done.returncode == 0, done.stderr
    printed = re.search(r"with: (esper-sanctum ingest .*)$", done.stderr, re.M)
    assert printed, done.stderr
    assert f"--server {target}" in printed[1] and f"--tls-ca {cert}" in printed[1]
    bin_dir = str(Path(sys.executable).parent)
    with ThreadedSanctum(tls_cert=cert, tls_key=key, token=TOKEN, port=port) as server:
        ran = subprocess.run(["bash", "-c", printed[1]], capture_output=True, text=True,
                             timeout=60, env={**os.environ, "ESPER_TOKEN": TOKEN,
                                              "PATH": f"{bin_dir}:{os.environ['PATH']}"})
        assert ran.returncode == 0, ran.stderr
        creds = grpc.ssl_channel_credentials(cert.read_bytes())
        with grpc.secure_channel(target, creds) as ch:
            snap = server.stub(ch).GetSnapshot(
                spb.GetSnapshotRequest(run_id="hint-run"), metadata=server.metadata,
                timeout=10).snapshot
    assert snap.run.last_batch.episodes_completed == 4
    assert snap.run.status == spb.RUN_STATUS_COMPLETED
    assert snap.delivery.gap_events == 0


def test_help_states_each_default_once() -> None:
    text = build_parser().format_help()
    assert "(default: None)" not in text
    run_id = " ".join(text.split("--run-id RUN_ID", 2)[2].split("--", 1)[0].split())
    assert run_id.count("default") == 1 and "generated" in run_id
    entropy = " ".join(text.split("--entropy-coef-end X|none", 2)[2].split("  --", 1)[0].split())
    assert "omit" not in entropy and "'none' keeps it constant" in entropy
