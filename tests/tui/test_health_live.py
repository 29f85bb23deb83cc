"""End to end: a real trainer with an absurd learning rate streams to a real sanctum; the
exploding-gradients finding sanctum computes appears in the TUI (pilot) and in the Node
client within 2 s of the update that caused it (the finding's `since`: the server's
receive time of that update)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from testkit import ThreadedSanctum
from tests.node.test_node_client import MISSING, NODE_DIR, built  # noqa: F401 - fixture
from tests.tui.helpers import screen_text
from tui_client.app import EsperTui
from tui_client.config import TuiOptions
from tui_client.connection import Backoff

RUN = "absurd-lr"
LIMIT_S = 2.0


class NodeWatch:
    """`node dist/cli.js --run RUN watch`: each stdout line with the time it arrived."""

    def __init__(self, cli: Path, address: str) -> None:
        self.lines: list[tuple[float, str]] = []
        self.proc = subprocess.Popen(["node", str(cli), "--server", address, "--run", RUN,
                                      "watch"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, cwd=NODE_DIR)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append((time.time(), line))

    def first(self, needle: str) -> float | None:
        return next((t for t, line in self.lines if needle in line), None)

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.mark.node
@pytest.mark.skipif(bool(MISSING), reason=f"needs {' and '.join(MISSING)} for the Node client")
async def test_exploding_finding_reaches_tui_and_node_within_2s(built: Path) -> None:  # noqa: F811
    with ThreadedSanctum() as server:
        trainer = subprocess.Popen(
            [sys.executable, "-m", "trainer_svc", "--sanctum", server.address, "--run-id", RUN,
             "--lr", "100", "--episodes", "64", "--envs", "2", "--max-epochs", "6", "--quiet"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        watch = NodeWatch(built, server.address)
        app = EsperTui(TuiOptions(server=server.address, run=RUN, max_hz=20.0,
                                  backoff=Backoff(initial=0.1, factor=2.0, maximum=0.4)))
        try:
            async with app.run_test(size=(160, 50)) as pilot:
                shown_tui = None
                deadline = time.monotonic() + 90
                while shown_tui is None and time.monotonic() < deadline:
                    if "exploding gradients" in screen_text(app):
                        shown_tui = time.time()
                    else:
                        await pilot.pause(0.02)
                assert shown_tui is not None, "the TUI never showed the finding"
                assert "CRITICAL" in screen_text(app)
            snap = server.snapshot(RUN)
            finding = next(f for f in snap.health.findings if f.rule_id == "exploding_gradients")
            since = finding.since.ToNanoseconds() / 1e9
            deadline = time.monotonic() + 10
            while watch.first("exploding_gradients") is None and time.monotonic() < deadline:
                time.sleep(0.05)
            shown_node = watch.first("exploding_gradients")
            assert shown_node is not None, watch.lines[-3:]
            assert "health=critical:" in next(
                line for _, line in watch.lines if "exploding_gradients" in line)
            print(f"exploding finding: TUI {shown_tui - since:.3f} s, Node "
                  f"{shown_node - since:.3f} s after the update that caused it")
            assert shown_tui - since <= LIMIT_S, (shown_tui - since)
            assert shown_node - since <= LIMIT_S, (shown_node - since)
        finally:
            watch.close()
            trainer.kill()
            trainer.wait()
