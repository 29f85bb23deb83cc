"""Event log lines: time (UTC), severity, type, env, message."""

from __future__ import annotations

from rich.text import Text

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_common.events import type_name
from tui_client.renderables.fmt import clip, clock

#: Longest message shown per entry (the server keeps up to 4 KiB of it).
MESSAGE_LIMIT = 240

SEVERITY_STYLE = {
    tpb.SEVERITY_DEBUG: ("DBG", "dim"),
    tpb.SEVERITY_INFO: ("INF", "blue"),
    tpb.SEVERITY_WARNING: ("WRN", "yellow"),
    tpb.SEVERITY_ERROR: ("ERR", "red"),
    tpb.SEVERITY_CRITICAL: ("CRT", "bold red"),
}


def entry_text(entry: spb.EventLogEntry) -> Text:
    """`12:03:04 WRN SEED_PRUNED env3 message` (UTC, so output does not depend on the host);
    "--:--:--" when the entry has no time or one no clock can show."""
    stamp = (clock(entry.timestamp) if entry.HasField("timestamp") else None) or "--:--:--"
    sev, style = SEVERITY_STYLE.get(entry.severity, ("   ", ""))
    out = Text(f"{stamp} ", style="dim")
    out.append(sev, style=style)
    out.append(f" {type_name(entry.event_type):<16}", style=style if entry.severity >= 3 else "")
    out.append(f" env{entry.env_id:<3}" if entry.HasField("env_id") else "       ", style="cyan")
    if entry.group_id:
        out.append(f" [{clip(entry.group_id, 24)}]", style="dim")
    out.append(f" {clip(entry.message, MESSAGE_LIMIT)}")
    return out


def log_text(snapshot: spb.SanctumSnapshot | None, limit: int = 200) -> Text:
    """The newest `limit` entries, oldest first (newest at the bottom)."""
    if snapshot is None or not snapshot.event_log.entries:
        return Text("no events yet", style="dim")
    entries = list(snapshot.event_log.entries)[-limit:]
    return Text("\n").join(entry_text(e) for e in entries)
