"""Host vitals sampled by the trainer: CPU, RAM, process RSS, and GPU only when measured."""

from __future__ import annotations

from rich.text import Text

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.telemetry.v1 import telemetry_pb2 as tpb
from tui_client.renderables.fmt import DASH, num, opt, pack


def load_style(percent: float) -> str:
    """Plain up to 75 %, yellow above, red bold above 90 %."""
    if percent > 90:
        return "red bold"
    return "yellow" if percent > 75 else ""


def gpu_text(v: tpb.SystemVitalsPayload) -> Text:
    """ "GPU 3.2/80.0 GB 45%" with the parts that were measured; "GPU —" on a CPU run."""
    used, total = opt(v, "gpu_memory_used_gb"), opt(v, "gpu_memory_total_gb")
    util = opt(v, "gpu_utilization")
    out = Text("GPU ", style="bold dim")
    if used is None and util is None:
        out.append(DASH, style="dim")
        return out
    if used is not None:
        mem = f"{num(used, '.1f')}/{num(total, '.1f')} GB" if total else f"{num(used, '.1f')} GB"
        style = load_style(100 * used / total) if total else ""
        out.append(mem, style=style)
    if util is not None:
        out.append(" " if used is not None else "")
        out.append(f"{num(util, '.0f')}%", style=load_style(util))
    return out


def vitals_text(snapshot: spb.SanctumSnapshot | None, width: int | None = None) -> Text:
    """`host CPU 55%  RAM 6.5/16.0 GB  RSS 1.10 GB  GPU —` (wrapped between items to
    `width`); "host —" before the trainer sent any sample."""
    if snapshot is None or not snapshot.HasField("vitals"):
        out = Text("host ", style="bold dim")
        out.append(f"{DASH} (no vitals yet)", style="dim")
        return out
    v = snapshot.vitals
    cpu = Text("host CPU ", style="bold dim")
    cpu.append(f"{num(v.cpu_percent, '.0f')}%", style=load_style(v.cpu_percent))
    ram = Text("RAM ", style="bold dim")
    ram_pct = 100 * v.ram_used_gb / v.ram_total_gb if v.ram_total_gb else 0.0
    ram.append(f"{num(v.ram_used_gb, '.1f')}/{num(v.ram_total_gb, '.1f')} GB",
               style=load_style(ram_pct))
    rss = Text("RSS ", style="bold dim")
    rss.append(f"{num(v.process_rss_gb, '.2f')} GB")
    return pack([cpu, ram, rss, gpu_text(v)], width, indent=5)
