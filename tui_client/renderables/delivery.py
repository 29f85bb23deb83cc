"""Delivery panel: what reached the run, what did not, and how far behind the view is."""

from __future__ import annotations

from rich.text import Text

from esper.sanctum.v2 import sanctum_pb2 as spb
from tui_client.renderables.fmt import num, pack


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
            Text(f"{p.producer_id}:", style="dim"),
            Text(f"seq {p.last_seq}", style="dim"),
            Text(f"applied {p.events_applied}", style="dim"),
        ]
        if p.gap_events or p.dropped_total:
            items.append(Text(f"gaps {p.gap_events}", style="yellow"))
            items.append(Text(f"dropped {p.dropped_total}", style="yellow"))
        out.append("\n  ")
        out.append_text(pack(items, None if width is None else width - 2, indent=4, sep=1))
    return out
