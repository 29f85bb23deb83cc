"""One place defines every health threshold: esper_common/health_rules.py. This greps the
tree for the names the old copies had and for clients comparing a health metric with a
number of their own."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TABLE = ROOT / "esper_common" / "health_rules.py"
#: Names of thresholds the TUI, the trainer and the Node client used to keep.
OLD_NAMES = re.compile(
    r"\b(RATIO_COLLAPSE|RATIO_EXPLOSION|KL_WARNING|KL_CRITICAL|CLIP_WARNING|CLIP_CRITICAL|"
    r"EV_WARNING|ENTROPY_COLLAPSE|MEMORY_WARNING_PCT|VALUE_COLLAPSE_STD|DEAD_GRAD_NORM|"
    r"EXPLODING_GRAD_NORM|gradient_cv_status|memory_style|gauge_level)\b")
#: A health metric compared with a non-zero numeric literal (either order); `> 0` is a
#: presence test (the seed hides [Mem:0%], shows clip direction only when any).
_METRIC = (r"(kl|clip|explained_variance|ev|entropy|grad_norm|gradient_cv|cv|cuda_memory\w*|"
           r"mem\w*|percent|pct|frac|value_\w+|dead\w*|expl\w*|exploding\w*|ratio_\w+|fps)")
_NUMBER = r"-?(?!0(?:\.0*)?(?![\d.]))\d"
COMPARE = re.compile(rf"\b{_METRIC}\w*\)?\s*(<|>|<=|>=)\s*{_NUMBER}|"
                     rf"{_NUMBER}[\d.]*\s*(<|>|<=|>=)\s*\w*\.?{_METRIC}\b", re.IGNORECASE)
_COMMENT = ("#", "//", "/*", "*")
CLIENT_DIRS = ("tui_client", "clients/node/src", "trainer_svc/emit.py", "esper_common")


def _sources() -> list[Path]:
    out: list[Path] = []
    for d in ("tui_client", "trainer_svc", "sanctum_svc", "esper_common", "clients/node/src"):
        base = ROOT / d
        out += [p for p in base.rglob("*") if p.suffix in (".py", ".ts")
                and "/gen/" not in p.as_posix() and "node_modules" not in p.parts]
    return out


def test_the_patterns_catch_the_old_copies() -> None:
    """The greps below fail on what the tree held before the health model."""
    assert OLD_NAMES.search("RATIO_COLLAPSE = 0.2")
    for line in ('style = "red" if frac < 0.1 else ("yellow" if frac < 0.3 else "cyan")',
                 "if percent > 90:", "if cv < 0.5:", "if t.value_std < 1e-4:",
                 'return "critical" if grad_norm > 100 else "ok"',
                 "if 0.0 < st.ratio_min < RATIO_COLLAPSE:"):
        assert COMPARE.search(line) or OLD_NAMES.search(line), line


def test_no_threshold_outside_the_rule_table() -> None:
    hits = []
    for path in _sources():
        if path == TABLE:
            continue
        rel = path.relative_to(ROOT).as_posix()
        for n, line in enumerate(path.read_text().splitlines(), 1):
            compares = (rel.startswith(CLIENT_DIRS) and ".test." not in rel
                        and not line.strip().startswith(_COMMENT)
                        and COMPARE.search(line.split("#")[0]))
            if OLD_NAMES.search(line) or compares:
                hits.append(f"{rel}:{n}: {line.strip()}")
    assert hits == []
