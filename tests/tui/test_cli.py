"""`esper-tui` flags: --help explains each one; bad input is a usage error, not a traceback."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys

import pytest

from esper_common import settings
from tui_client.cli import build_parser, main, options_from_args, serve_command


def test_help_explains_every_flag() -> None:
    text = build_parser().format_help()
    for flag in ("--server", "--run", "--token", "--tls-ca", "--max-hz", "--serve"):
        assert flag in text
    assert "127.0.0.1:50051" in text and "command palette" in text


def test_defaults_and_options() -> None:
    args = build_parser().parse_args([])
    opts = options_from_args(args)
    assert opts.server == "127.0.0.1:50051" and opts.run == ""
    assert opts.ui_hz == 30.0 and opts.max_hz == 30.0
    opts = options_from_args(build_parser().parse_args(["--max-hz", "50", "--run", "r"]))
    assert opts.ui_hz == 30.0 and opts.subscription().max_hz == 50 and opts.run == "r"
    assert opts.channel().subscriber is True


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--max-hz", "0"], "max_hz"),
        (["--server", "nohostport"], "HOST:PORT"),
        (["--tls-ca", "/nonexistent/ca.pem"], "no such file"),
        (["--max-hz", "fast"], "invalid float"),
    ],
)
def test_bad_flags_are_usage_errors(argv: list[str], needle: str, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_serve_command_reruns_the_tui_without_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ESPER_TOKEN", raising=False)
    args = build_parser().parse_args(["--serve", "--server", "h:1", "--run", "r 1", "--token", "t"])
    cmd = shlex.split(serve_command(args))
    assert cmd[:3] == [sys.executable, "-m", "tui_client"]
    assert "--serve" not in cmd and cmd[cmd.index("--run") + 1] == "r 1"
    assert cmd[cmd.index("--server") + 1] == "h:1"
    # The token reaches the browser sessions through the environment, never argv.
    assert "--token" not in cmd and "t" not in cmd
    assert os.environ["ESPER_TOKEN"] == "t"


def test_token_defaults_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ESPER_TOKEN", "from-env")
    assert settings.parse_args(build_parser(), [], "tui").token == "from-env"


def test_console_script_help_runs() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "tui_client", "--help"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0 and "esper-tui" in out.stdout


def test_serve_answers_http_on_localhost() -> None:
    import socket
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui_client", "--serve", "--serve-port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}" in line
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as resp:
                    body = resp.read().decode()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.2)
        assert resp.status == 200 and "textual" in body.lower()
    finally:
        proc.terminate()
        proc.wait(10)
