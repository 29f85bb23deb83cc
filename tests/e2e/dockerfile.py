"""A small reader of the Dockerfile: stages, their instructions and ARG defaults."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


@dataclass
class Dockerfile:
    global_args: dict[str, str]
    stages: dict[str, Stage]

    @classmethod
    def parse(cls, path: Path) -> Dockerfile:
        text = re.sub(r"\\\n\s*", " ", path.read_text())  # join continuation lines
        args: dict[str, str] = {}
        stages: dict[str, Stage] = {}
        current: Stage | None = None
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            keyword, _, rest = line.partition(" ")
            keyword = keyword.upper()
            if keyword == "FROM":
                m = re.fullmatch(r"(\S+) AS (\S+)", rest, re.I)
                assert m, f"every stage is named: {line}"
                current = stages[m.group(2)] = Stage(m.group(2), m.group(1))
            elif current is None:
                assert keyword == "ARG", line
                name, _, default = rest.partition("=")
                args[name] = default
            else:
                current.instructions.append((keyword, rest))
        return cls(args, stages)

    def chain(self, name: str) -> list[Stage]:
        """The stage and the stages it is built FROM, down to an image."""
        out = [self.stages[name]]
        while out[-1].base in self.stages:
            out.append(self.stages[out[-1].base])
        return out

    def image(self, name: str) -> str:
        """The external image a stage ends on, ARGs substituted."""
        base = self.chain(name)[-1].base
        return re.sub(r"\$\{(\w+)\}", lambda m: self.global_args[m.group(1)], base)

    def arg(self, stage: str, name: str) -> str:
        for decl in self.stages[stage].all("ARG"):
            key, _, default = decl.partition("=")
            if key == name:
                return default
        raise KeyError(f"{stage} declares no ARG {name}")

    def pip_installs(self, stage: str) -> list[list[str]]:
        """The argument lists of every `pip install` a stage's RUN lines make."""
        out = []
        for run in self.stages[stage].all("RUN"):
            for part in run.split("&&"):
                words = shlex.split(part, posix=True)
                if words[:2] == ["pip", "install"]:
                    out.append(words[2:])
        return out
