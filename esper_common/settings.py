"""One configuration layer for every command: flag > environment > config file > default.

Every CLI parses its arguments with `parse_args(parser, argv, section)`. Each option of the
parser, and of its subcommands (found by walking the parser), can then also be set by

- an environment variable: `ESPER_<KEY>` for every command that has the option (ESPER_TOKEN),
  or `ESPER_<SECTION>_<KEY>` for one command only (ESPER_TUI_MAX_HZ), which wins;
- a key of a TOML file (`--config FILE`, else `$ESPER_CONFIG`, else
  `$XDG_CONFIG_HOME/esper/config.toml` when it exists): `[<section>] key = value` for one
  command, or `[all] key = value` for every command that has the option; the former wins.

KEY is the long flag in snake case (`--max-hz`: max_hz, MAX_HZ); SECTION is the command path
(`trainer`, `tui`, `up`, `sanctum.serve`: `[sanctum.serve]`, ESPER_SANCTUM_SERVE_...). A value
found there becomes the option's default, so a flag on the command line still wins and
argparse's own checks apply. An option added to any parser later inherits all of this, and
its `--help` line says where it can come from, with no code of its own.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
import textwrap
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONFIG_ENV = "ESPER_CONFIG"
ALL = "all"
#: Options whose values are never printed (help, `esper config show`).
SECRET = re.compile(r"token|secret|password", re.I)
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_SKIP = (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)


class SettingsError(ValueError):
    """A value from the environment or the config file is unusable; says which and why."""


def default_config_path() -> Path:
    """$XDG_CONFIG_HOME/esper/config.toml (~/.config/esper/config.toml)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "esper" / "config.toml"


@dataclass(frozen=True)
class Option:
    """One flag of one command, and the names it is looked up by."""

    section: str
    action: argparse.Action

    @property
    def key(self) -> str:
        longs = [s for s in self.action.option_strings if s.startswith("--")]
        return (longs[0] if longs else self.action.option_strings[0]).lstrip("-").replace(
            "-", "_")

    @property
    def env(self) -> str:
        """The variable every command with this option reads."""
        return "ESPER_" + self.key.upper()

    @property
    def scoped_env(self) -> str:
        """The variable only this command reads (wins over `env`)."""
        scope = re.sub(r"[^A-Za-z0-9]", "_", self.section).upper()
        return f"ESPER_{scope}_{self.key.upper()}" if scope else self.env

    @property
    def secret(self) -> bool:
        return bool(SECRET.search(self.key))


@dataclass(frozen=True)
class Resolved:
    """An option's value from the environment or the file, and where it came from."""

    value: Any
    source: str  # "env ESPER_X" | "file PATH [section]"


def commands(parser: argparse.ArgumentParser, section: str
             ) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """(section, parser) for a parser and every subcommand under it (aliases once)."""
    seen: set[int] = set()

    def walk(p: argparse.ArgumentParser, sec: str) -> Iterator[tuple[str, argparse.ArgumentParser]]:
        seen.add(id(p))
        yield sec, p
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    if id(sub) not in seen:
                        yield from walk(sub, f"{sec}.{name}" if sec else name)

    yield from walk(parser, section)


def options(parser: argparse.ArgumentParser, section: str) -> list[Option]:
    """Every configurable flag of the parser and its subcommands."""
    return [Option(sec, a) for sec, p in commands(parser, section) for a in p._actions
            if a.option_strings and not isinstance(a, _SKIP) and a.dest != "config"]


def _table(doc: Mapping[str, Any], section: str) -> Mapping[str, Any]:
    node: Any = doc
    for part in section.split(".") if section else []:
        node = node.get(part, {}) if isinstance(node, Mapping) else {}
    return node if isinstance(node, Mapping) else {}


def _lookup(table: Mapping[str, Any], key: str) -> tuple[bool, Any]:
    for name in (key, key.replace("_", "-")):
        if name in table and not isinstance(table[name], Mapping):
            return True, table[name]
    return False, None


def resolve(opt: Option, env: Mapping[str, str], doc: Mapping[str, Any], path: str
            ) -> Resolved | None:
    """The option's value from the environment, else the file; None when neither has one."""
    for name in dict.fromkeys((opt.scoped_env, opt.env)):
        if env.get(name, "") != "":
            return Resolved(convert(opt.action, env[name], name), f"env {name}")
    for sec in dict.fromkeys((opt.section, ALL)):
        found, raw = _lookup(_table(doc, sec) if sec else {}, opt.key)
        if found:
            where = f"{path} [{sec}] {opt.key}"
            return Resolved(convert(opt.action, raw, where), f"file {path} [{sec}]")
    return None


def _boolean(raw: Any, where: str) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise SettingsError(f"{where}: expected true or false, got {raw!r}")


def _scalar(action: argparse.Action, raw: Any, where: str) -> Any:
    if isinstance(raw, (bool, list, dict)):
        raise SettingsError(f"{where}: expected a value for {action.option_strings[-1]}, "
                            f"got {raw!r}")
    text = raw if isinstance(raw, str) else str(raw)
    try:
        value = action.type(text) if callable(action.type) else text
    except (TypeError, ValueError, argparse.ArgumentTypeError) as exc:
        raise SettingsError(f"{where}: invalid value {raw!r} for "
                            f"{action.option_strings[-1]} ({exc})") from None
    if action.choices is not None and value not in action.choices:
        options_ = ", ".join(map(str, action.choices))
        raise SettingsError(f"{where}: {raw!r} is not one of {options_}")
    return value


def convert(action: argparse.Action, raw: Any, where: str) -> Any:
    """A raw value (an environment string or a TOML value) as the option's parsed value."""
    if action.nargs == 0:  # store_true/false/const, BooleanOptionalAction
        on = _boolean(raw, where)
        if isinstance(action, argparse.BooleanOptionalAction):
            return on
        const = action.const
        return const if on else (not const if isinstance(const, bool) else None)
    listy = action.nargs in ("*", "+") or isinstance(action.nargs, int) or isinstance(
        action, argparse._AppendAction)
    if listy:
        items = raw if isinstance(raw, list) else shlex.split(str(raw))
        return [_scalar(action, item, where) for item in items]
    return _scalar(action, raw, where)


def shown(opt: Option, value: Any) -> str:
    """A value as help and `esper config show` print it (secrets masked)."""
    if opt.secret and value not in (None, ""):
        return "****"
    return str(value)


def config_path(argv: list[str], env: Mapping[str, str]) -> tuple[Path | None, bool]:
    """(the config file to read, whether the user named it) from --config, $ESPER_CONFIG or
    the default location; None when there is none to read."""
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        if arg == "--config" and i + 1 < len(argv):
            return Path(argv[i + 1]).expanduser(), True
        if arg.startswith("--config="):
            return Path(arg.split("=", 1)[1]).expanduser(), True
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV]).expanduser(), True
    path = default_config_path()
    return (path, False) if path.is_file() else (None, False)


def load(path: Path | None, named: bool) -> dict[str, Any]:
    """The TOML document at `path` ({} for none). A file the user named must exist."""
    if path is None:
        return {}
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        if named:
            raise SettingsError(f"config file {path} does not exist") from None
        return {}
    except OSError as exc:
        raise SettingsError(f"cannot read config file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path} is not valid TOML: {exc}") from None


def check_sections(parser: argparse.ArgumentParser, section: str, doc: Mapping[str, Any],
                   path: Path | None) -> None:
    """Refuse a key in one of this command's tables that names no option (a typo)."""
    for sec, sub in commands(parser, section):
        if not sec:
            continue
        table = _table(doc, sec)
        known = {o.key for o in options(sub, sec) if o.section == sec}
        children = {s.rsplit(".", 1)[-1] for s, _ in commands(sub, sec) if s != sec}
        for key, value in table.items():
            norm = key.replace("-", "_")
            if norm not in known and not (key in children and isinstance(value, Mapping)):
                raise SettingsError(
                    f"config file {path}: [{sec}] has no option {key!r} (it has: "
                    f"{', '.join(sorted(known))})")


EPILOG = (
    "Configuration: every option can also come from the environment or a TOML config file. "
    "A flag wins over the environment, which wins over the file, which wins over the "
    "default. Environment: ESPER_<OPTION> for every command ({example_env}), or "
    "{scoped_env} for this command only. File: --config FILE, else $ESPER_CONFIG, else "
    "{default_file}; keys as `{example_key} = ...` under [{section}] for this command or "
    "[all] for every command. `esper config show` prints the effective configuration."
)


def annotate(parser: argparse.ArgumentParser, section: str,
             found: Mapping[int, Resolved]) -> None:
    """Add --config, each option's variable (and its current value from the environment or
    the file) to its help, and the precedence rule to each command's epilog. Once."""
    if getattr(parser, "_esper_annotated", False):
        return
    parser._esper_annotated = True  # type: ignore[attr-defined]  # a marker on argparse's parser so it is annotated once
    for sec, sub in commands(parser, section):
        if not any(a.dest == "config" for a in sub._actions):
            sub.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS,
                             help="TOML config file (default: $ESPER_CONFIG, else "
                                  f"{_home(default_config_path())} if it exists)")
        opts = [o for o in options(sub, sec) if o.section == sec]
        for opt in opts:
            if opt.action.help == argparse.SUPPRESS:
                continue
            note = f"env {opt.env}"
            if id(opt.action) in found:
                res = found[id(opt.action)]
                note += f"; now {shown(opt, res.value)} from {res.source}"
            opt.action.help = f"{opt.action.help or ''} [{note.replace('%', '%%')}]".lstrip()
        if sec and opts:
            example = opts[0]
            text = EPILOG.format(example_env=example.env, scoped_env=example.scoped_env,
                                 default_file=_home(default_config_path()),
                                 example_key=example.key, section=sec)
            sub.epilog = "\n\n".join(p for p in (sub.epilog, textwrap.fill(text, 88)) if p)


def _home(path: Path) -> str:
    home = str(Path.home())
    text = str(path)
    return "~" + text[len(home):] if text.startswith(home + os.sep) else text


def apply(parser: argparse.ArgumentParser, section: str, argv: list[str],
          env: Mapping[str, str] | None = None) -> dict[int, Resolved]:
    """Make values from the environment and the config file the parser's defaults.
    Returns what was found, by id of the action. Raises SettingsError."""
    env = os.environ if env is None else env
    path, named = config_path(argv, env)
    doc = load(path, named)
    check_sections(parser, section, doc, path)
    found: dict[int, Resolved] = {}
    for opt in options(parser, section):
        res = resolve(opt, env, doc, str(path))
        if res is not None:
            opt.action.default = res.value
            opt.action.required = False
            found[id(opt.action)] = res
    return found


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None, section: str,
               env: Mapping[str, str] | None = None) -> argparse.Namespace:
    """`parser.parse_args(argv)` with every option also read from the environment and the
    config file (flag > env > file > default). A bad value exits 2 with one line."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        found = apply(parser, section, args, env)
    except SettingsError as exc:
        annotate(parser, section, {})
        parser.error(str(exc))
    annotate(parser, section, found)
    return parser.parse_args(args)
