"""Delivery panel: what reached the run, what did not, and how far behind the view is."""

from __future__ import annotations

from rich.text import Text

from esper.sanctum.v2 import sanctum_pb2 as spb
from tui_client.renderables.fmt import clip, num, pack

#: SnapshotTrim field paths as the panel names them.
TRIMMED_NAMES = {
    "envs.envs": "envs", "event_log.entries": "log lines", "decisions.recent": "decisions",
    "delivery.producers": "producers", "histories.series": "series",
    "tamiyo.groups": "groups", "tamiyo.groups.last_decision": "last decisions",
    "tamiyo.groups.last_update.heads": "heads", "vitals": "vitals", "all": "everything else",
}


def size_text(nbytes: int) -> str:
    """1048576 -> "1.0 MiB", 5300 -> "5.2 KiB"."""
    for unit, div in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= div:
            return f"{nbytes / div:.1f} {unit}"
    return f"{nbytes} B"


def trimmed_text(snapshot: spb.SanctumSnapshot | None, width: int | None = None) -> Text | None:
    """What the server left out of an oversized snapshot, or None for a complete one:
    `✂ over the server's 1.0 MiB snapshot budget (14.0 MiB): not shown 6497 envs, …`."""
    if snapshot is None or not snapshot.HasField("trimmed"):
        return None
    trim = snapshot.trimmed
    head = Text(f"✂ over the server's {size_text(trim.budget_bytes)} snapshot budget "
                f"({size_text(trim.full_bytes)}): not shown", style="yellow")
    items = [head]
    for f in trim.fields[:12]:
        name = TRIMMED_NAMES.get(f.field) or clip(f.field, 40).replace("run.config.", "config ")
        items.append(Text(f"{f.omitted:,} {name}", style="yellow"))
    return pack(items, width, indent=2)


def delivery_text(
    snapshot: spb.SanctumSnapshot | None,
    view_age: float | None,
    event_age: float | None,
    width: int | None = None,
) -> Text:
    """Counts (received/applied/dup/rejected/gaps/dropped), lag, and per producer; items
    wrap as wholes to `width`."""
    if snapshot is None:
        return Text("no snapshot yet", style="dim")
    d = snapshot.delivery
    counts = [
        Text(f"received {d.events_received}"),
        Text(f"applied {d.events_applied}"),
        Text(f"dup {d.events_duplicate}"),
        Text(f"rejected {d.events_rejected}", style="red" if d.events_rejected else ""),
        Text(f"gaps {d.gap_events}", style="yellow" if d.gap_events else ""),
        Text(f"dropped {d.producer_dropped}", style="yellow" if d.producer_dropped else ""),
    ]
    out = pack(counts, width, indent=0)
    out.append("\n")
    lag = [
        Text(f"view age {num(view_age, '.1f')}s"),
        Text(f"last event {num(event_age, '.1f')}s ago"),
        Text(f"v{snapshot.version}", style="dim"),
    ]
    out.append_text(pack(lag, width, indent=0))
    for p in d.producers:
        items = [
            Text(f"{clip(p.producer_id, 40)}:", style="dim"),
            Text(f"seq {p.last_seq}", style="dim"),
            Text(f"applied {p.events_applied}", style="dim"),
        ]
        if p.gap_events or p.dropped_total:
            items.append(Text(f"gaps {p.gap_events}", style="yellow"))
            items.append(Text(f"dropped {p.dropped_total}", style="yellow"))
        out.append("\n  ")
        out.append_text(pack(items, None if width is None else width - 2, indent=4, sep=1))
    return out
