"""`esper-tui --serve` in a real headless browser (Debian's chromium driven by Playwright): the
page shows the run and the TAMIYO banner from a live sanctum, a key press switches panels,
and beyond loopback it needs a token.

textual-serve draws with xterm.js on a canvas, so the screen is read from the page's terminal
buffer: an init script records the terminal object when textual.js assigns it. `make test`
installs chromium (`make browser`, apt as root); without it the test skips here and fails
in CI.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any  # playwright is imported lazily, so its objects are untyped here

import pytest

from testkit import ThreadedSanctum, build_run_events, free_port

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
pytestmark = pytest.mark.slow

RECORD_TERMINAL = """
window.__terminals = [];
Object.defineProperty(Object.prototype, 'terminal', {
  configurable: true,
  set(value) {
    Object.defineProperty(this, 'terminal',
                          {value, writable: true, configurable: true, enumerable: true});
    if (value && value.buffer) window.__terminals.push(value);
  },
});
"""
SCREEN = """() => {
  const t = (window.__terminals || []).find(t => t.buffer && t.buffer.active);
  if (!t) return '';
  const b = t.buffer.active, lines = [];
  for (let i = 0; i < t.rows; i++) {
    const line = b.getLine(b.viewportY + i);
    lines.push(line ? line.translateToString(true) : '');
  }
  return lines.join('\\n');
}"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} missing in CI: `make browser` should have installed it")
        pytest.skip(f"{CHROMIUM} not installed (as root: make browser, or apt-get install "
                    "chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def sanctum() -> Iterator[ThreadedSanctum]:
    with ThreadedSanctum() as server:
        server.ingest(build_run_events("browser-run", "p0"))
        yield server


def _serve(sanctum: ThreadedSanctum, port: int, *extra: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui_client", "--serve", "--serve-port", str(port),
         "--server", sanctum.address, "--run", "browser-run", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
            return proc
        except urllib.error.HTTPError:
            return proc  # answering (a token is wanted)
        except OSError:
            assert proc.poll() is None, proc.communicate()[0]
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("esper-tui --serve did not answer HTTP")


def _page(browser: Any, url: str) -> Any:
    page = browser.new_page(viewport={"width": 800, "height": 480})
    # The page asks for a web font from the internet: refuse it rather than wait for it.
    page.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/])"), lambda route: route.abort())
    page.add_init_script(RECORD_TERMINAL)
    page.goto(url)
    return page


def _wait_text(page: Any, needle: str, timeout_ms: int = 30_000) -> str:
    page.wait_for_function(
        f"() => ({SCREEN})().includes({needle!r})", timeout=timeout_ms)
    return str(page.evaluate(SCREEN))


def test_the_page_shows_the_live_run_and_a_key_switches_panels(
        browser: Any, sanctum: ThreadedSanctum) -> None:
    port = free_port()
    proc = _serve(sanctum, port)
    try:
        page = _page(browser, f"http://127.0.0.1:{port}/")
        screen = _wait_text(page, "browser-run")  # the run id: the data has arrived
        assert "TAMIYO" in screen and "ENVS" in screen and "DECISIONS" not in screen
        page.locator(".xterm-helper-textarea").focus()
        page.keyboard.press("Tab")
        screen = _wait_text(page, "DECISIONS")
        assert "op=WAIT" in screen and "ENVS" not in screen
        page.close()
    finally:
        proc.terminate()
        proc.wait(30)


def test_with_a_token_the_page_opens_only_from_the_printed_url(
        browser: Any, sanctum: ThreadedSanctum) -> None:
    port = free_port()
    proc = _serve(sanctum, port, "--serve-token", "s3cret")
    try:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5)
        assert refused.value.code == 401
        with pytest.raises(urllib.error.HTTPError) as wrong:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/?token=guess", timeout=5)
        assert wrong.value.code == 401
        page = _page(browser, f"http://127.0.0.1:{port}/?token=s3cret")
        screen = _wait_text(page, "browser-run")
        assert "TAMIYO" in screen
        assert "token" not in page.url
        (cookie,) = page.context.cookies()
        assert cookie["name"] == "esper_serve_token" and cookie["httpOnly"]
        page.close()
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert f"http://127.0.0.1:{port}/?token=s3cret" in out


def test_serving_beyond_loopback_without_a_token_is_refused() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tui_client", "--serve", "--serve-host", "0.0.0.0",
         "--serve-port", str(free_port())], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "--serve-host 0.0.0.0 would let anyone" in done.stderr
    assert "--serve-token" in done.stderr
