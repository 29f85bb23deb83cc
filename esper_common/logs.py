"""Logs of every service: `--log-level`, `--log-format text|json`, and structured fields.

    logs.add_flags(parser)                          # in build_parser()
    logs.configure(args.log_level, args.log_format, service="sanctum")
    logs.bind_process(run_id=..., producer_id=...)  # for every record of this process
    with logs.fields(rpc="Ingest", peer=...):       # for records logged inside (one RPC)
        logs.bind(run_id=...)                       # add to the innermost fields() block
        log.info("...")

A record carries the fields it was given (`extra=`), then those of the enclosing `fields()`
blocks, then the process's. Text: `TIME LEVEL LOGGER [key=value ...]: message`; JSON: one
object per line with `ts`, `level`, `logger`, `msg` and the fields present.

What a command prints for its user (start lines, progress, summaries, one-line errors) goes
through `status`, so that under `--log-format json` every line a command writes is JSON:

    logs.status("summary", f"esper-trainer: telemetry: emitted {n}", emitted=n)

Text: the line as given; JSON: `{"ts", "level", "event", "msg", <process fields>, <figures>}`.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TextIO

#: Keys of a status record that its figures may not take.
STATUS_KEYS = ("ts", "level", "event", "msg", "logger")
#: Structured fields, in the order text lines show them.
FIELDS = ("service", "run_id", "producer_id", "sender_pid", "peer", "rpc", "status", "duration_ms")
LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("text", "json")

_context: ContextVar[dict[str, Any] | None] = ContextVar("esper_log_fields", default=None)
_process: dict[str, Any] = {}
_format = ["text"]


def add_flags(parser: argparse.ArgumentParser, default_level: str = "warning") -> None:
    """--log-level and --log-format on a service's parser."""
    group = parser.add_argument_group("logging")
    group.add_argument("--log-level", choices=LEVELS, default=default_level,
                       help=f"least severe records logged (default {default_level})")
    group.add_argument("--log-format", choices=FORMATS, default="text",
                       help="text lines, or one JSON object per line with the fields "
                            f"{', '.join(FIELDS)} where known (default text)")


def bind_process(**values: Any) -> None:
    """Fields for every record this process logs (e.g. the trainer's run_id)."""
    _process.update({k: v for k, v in values.items() if v is not None})


@contextmanager
def fields(**values: Any) -> Iterator[dict[str, Any]]:
    """Fields for every record logged inside the block (in this task or thread)."""
    merged = {**(_context.get() or {}), **{k: v for k, v in values.items() if v is not None}}
    token = _context.set(merged)
    try:
        yield merged
    finally:
        _context.reset(token)


def bind(**values: Any) -> None:
    """Add fields to the innermost `fields()` block (nothing outside one)."""
    current = _context.get()
    if current is not None:
        current.update({k: v for k, v in values.items() if v is not None})


def process_fields() -> dict[str, Any]:
    """The fields bound for the whole process (`bind_process`), without any block's."""
    return dict(_process)


def current() -> dict[str, Any]:
    """The fields a record logged here would carry (process, then context)."""
    return {**_process, **(_context.get() or {})}


class FieldFilter(logging.Filter):
    """Copies the context's and the process's fields onto each record that lacks them."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in current().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def _utc(created: float) -> str:
    ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{ts}.{int(created * 1000) % 1000:03d}Z"


def status(event: str, text: str, *, stream: TextIO | None = None, level: str = "info",
           end: str = "\n", **figures: Any) -> None:
    """A status line for the user: `text` + `end` on `stream` (stderr) in text mode, or one
    JSON object: ts, level, event (stable, e.g. "summary"), msg (`text` without the
    surrounding whitespace), the process's fields, then `figures` as typed values (None
    ones left out). Not filtered by --log-level: the text line never was either."""
    out = stream or sys.stderr
    if not is_json():
        out.write(text + end)
        out.flush()
        return
    clash = set(figures) & set(STATUS_KEYS)
    if clash or level not in LEVELS:
        raise ValueError(f"status {event!r}: level {level!r}, reserved keys {sorted(clash)}")
    record: dict[str, Any] = {"ts": _utc(time.time()), "level": level, "event": event,
                              "msg": text.strip(), **_process,
                              **{k: v for k, v in figures.items() if v is not None}}
    out.write(json.dumps(record, default=str) + "\n")
    out.flush()


def _fields_of(record: logging.LogRecord) -> dict[str, Any]:
    return {k: getattr(record, k) for k in FIELDS if getattr(record, k, None) is not None}


class TextFormatter(logging.Formatter):
    """`2026-01-01 12:00:00,123 INFO sanctum_svc.observe [rpc=Ingest status=OK]: message`
    (the fields before the message, so a multi-line message stays intact)."""

    def format(self, record: logging.LogRecord) -> str:
        extra = " ".join(f"{k}={v}" for k, v in _fields_of(record).items())
        name = f"{record.name} [{extra}]" if extra else record.name
        line = f"{self.formatTime(record)} {record.levelname} {name}: {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts (UTC, ISO 8601), level, logger, msg, fields, exc."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {"ts": _utc(record.created),
                               "level": record.levelname.lower(), "logger": record.name,
                               "msg": record.getMessage(), **_fields_of(record)}
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


class _Handler(logging.StreamHandler):
    """The handler `configure` installs (replaced, not stacked, on a second call)."""


def configure(level: str = "warning", fmt: str = "text", stream: TextIO | None = None,
              service: str | None = None) -> None:
    """Send the root logger's records to `stream` (stderr) at `level`, in `fmt`."""
    if level not in LEVELS or fmt not in FORMATS:
        raise ValueError(f"log level {level!r} / format {fmt!r}: expected one of "
                         f"{LEVELS} / {FORMATS}")
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
    handler = _Handler(stream or sys.stderr)
    handler.addFilter(FieldFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    _format[0] = fmt
    logging.captureWarnings(fmt == "json")  # warnings.warn() lines become records too
    if service:
        bind_process(service=service)


def configured() -> bool:
    """Whether this process's logs go through `configure`'s handler."""
    return any(isinstance(h, _Handler) for h in logging.getLogger().handlers)


def is_json() -> bool:
    """Whether `configure` chose JSON (then one-line notices should be records too)."""
    return _format[0] == "json"
