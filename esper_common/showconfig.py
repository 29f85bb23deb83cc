"""`esper config show`: the effective configuration of every command, as a TOML file.

Each value says where it came from (environment variable, config file or default); secrets
(tokens) are masked. The output is itself a valid config file. Commands whose extra is not
installed are listed as such.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from esper_common import settings

#: (section prefix, module with build_parser(), command name) of every CLI.
CLIS = (
    ("", "esper_common.cli", "esper"),
    ("sanctum", "sanctum_svc.cli", "esper-sanctum"),
    ("trainer", "trainer_svc.cli", "esper-trainer"),
    ("tui", "tui_client.cli", "esper-tui"),
)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(str(value))


def parsers() -> list[tuple[str, str, argparse.ArgumentParser | None, str]]:
    """(section, command, parser or None, why not) for every CLI."""
    out: list[tuple[str, str, argparse.ArgumentParser | None, str]] = []
    for section, module, name in CLIS:
        try:
            parser = importlib.import_module(module).build_parser()
        except ImportError as exc:
            out.append((section, name, None, f"not installed here ({exc.name} missing)"))
            continue
        out.append((section, name, parser, ""))
    return out


def render(env: Mapping[str, str] | None = None, only: str | None = None,
           config: str | None = None) -> str:
    """The effective configuration (for `only`, one section and those under it), with
    the config file `config` if given, else the one every command would read."""
    env = os.environ if env is None else env
    path, named = settings.config_path(["--config", config] if config else [], env)
    doc = settings.load(path, named)
    lines = ["# esper: effective configuration (a flag > ESPER_* environment > config file >",
             "# default). Config file: " + (f"{path}" if path else
                                           f"none ({settings.default_config_path()} absent)")]
    known: set[str] = set()
    for section, name, parser, why in parsers():
        if parser is None:
            lines += ["", f"# {name}: {why}"]
            continue
        settings.check_sections(parser, section, doc, path)
        by_section: dict[str, list[settings.Option]] = {}
        for opt in settings.options(parser, section):
            known.add(opt.key)
            by_section.setdefault(opt.section, []).append(opt)
        for sec, opts in by_section.items():
            if not sec or sec.startswith("config") or (only and not (
                    sec == only or sec.startswith(only + "."))):
                continue
            words = sec[len(section):].lstrip(".").replace(".", " ")
            lines += ["", f"[{sec}]  # {name} {words}".rstrip()]
            for opt in opts:
                lines.append(_line(opt, env, doc, str(path)))
    unknown = sorted(k for k in _table(doc, settings.ALL) if k.replace("-", "_") not in known)
    if unknown:
        lines += ["", f"# warning: [all] in {path} has keys no command knows: "
                  f"{', '.join(unknown)}"]
    return "\n".join(lines) + "\n"


def _table(doc: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    table = doc.get(name, {})
    return table if isinstance(table, Mapping) else {}


def _line(opt: settings.Option, env: Mapping[str, str], doc: Mapping[str, Any],
          path: str) -> str:
    found = settings.resolve(opt, env, doc, path)
    value, source = (found.value, found.source) if found else (opt.action.default, "default")
    if value is None or value is argparse.SUPPRESS:
        return f"# {opt.key} =   (not set; env {opt.env})"
    if isinstance(value, Path):
        value = str(value)
    shown = settings.shown(opt, value)
    text = _toml(shown) if shown == "****" else _toml(value)
    return f"{opt.key} = {text}  # {source}"
