"""Every `# type: ignore` in the hand-written code names its error code and says why.

mypy (`make lint`) refuses an ignore without a code (ignore-without-code) and an unused one
(warn_unused_ignores); the reason is for the next reader: `# type: ignore[code]  # why`.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HAND_WRITTEN = ("sanctum_svc", "trainer_svc", "tui_client", "esper_common", "testkit", "bench",
                "scripts", "tests")
IGNORE = re.compile(r"#\s*type:\s*ignore(?P<rest>.*)$")
WITH_REASON = re.compile(r"^\[[a-z-]+(,[a-z-]+)*\]\s+#\s*\S")


def _unchecked() -> set[Path]:
    """Modules mypy is told not to check yet (pyproject: ignore_errors)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    return {ROOT / (module.replace(".", "/") + ".py")
            for override in config.get("overrides", []) if override.get("ignore_errors")
            for module in override["module"]}


def test_every_type_ignore_has_a_code_and_a_reason() -> None:
    bare = []
    skipped = _unchecked()
    for top in HAND_WRITTEN:
        for path in sorted((ROOT / top).rglob("*.py")):
            if path == Path(__file__).resolve() or path in skipped:
                continue
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                m = IGNORE.search(line)
                if m and not WITH_REASON.match(m["rest"].strip()):
                    bare.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not bare, "type: ignore without [code] and '# reason':\n" + "\n".join(bare)
