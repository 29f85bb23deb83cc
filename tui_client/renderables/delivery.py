"""Delivery panel: what reached the run, what did not, and how far behind the view is."""

from __future__ import annotations

from rich.text import Text

from esper.sanctum.v1 import sanctum_pb2 as spb
from tui_client.renderables.fmt import num


def delivery_text(
    snapshot: spb.SanctumSnapshot | None, view_age: float | None, event_age: float | None
) -> Text:
    """Counts (received/applied/dup/rejected/gaps/dropped), per producer, and lag."""
    if snapshot is None:
        return Text("no snapshot yet", style="dim")
    d = snapshot.delivery
    out = Text()
    out.append(f"received {d.events_received}  applied {d.events_applied}  ")
    out.append(f"dup {d.events_duplicate}  ")
    out.append(f"rejected {d.events_rejected}  ", style="red" if d.events_rejected else "")
    out.append(f"gaps {d.gap_events}  ", style="yellow" if d.gap_events else "")
    out.append(f"dropped {d.producer_dropped}", style="yellow" if d.producer_dropped else "")
    out.append("\n")
    out.append(f"view age {num(view_age, '.1f')}s  last event {num(event_age, '.1f')}s ago  ")
    out.append(f"v{snapshot.version}", style="dim")
    for p in d.producers:
        line = f"\n  {p.producer_id}: seq {p.last_seq}  applied {p.events_applied}"
        out.append(line, style="dim")
        if p.gap_events or p.dropped_total:
            out.append(f"  gaps {p.gap_events}  dropped {p.dropped_total}", style="yellow")
    return out
