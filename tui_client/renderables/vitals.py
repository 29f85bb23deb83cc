"""Host vitals sampled by the trainer: CPU, RAM, process RSS, and GPU only when measured."""

from __future__ import annotations

from rich.text import Text

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.telemetry.v1 import telemetry_pb2 as tpb
from tui_client.renderables.fmt import DASH, num, opt, pack
from tui_client.renderables.health import rule_level

#: GPU memory coloured by sanctum's cuda_memory_pressure finding (it holds the thresholds).
PRESSURE_STYLE = {"ok": "", "warning": "yellow", "critical": "red bold"}


def gpu_text(v: tpb.SystemVitalsPayload, snapshot: spb.SanctumSnapshot | None = None) -> Text:
    """ "GPU 3.2/80.0 GB 45%" with the parts that were measured; "GPU —" on a CPU run. The
    memory is coloured by sanctum's cuda_memory_pressure finding, if any."""
    used, total = opt(v, "gpu_memory_used_gb"), opt(v, "gpu_memory_total_gb")
    util = opt(v, "gpu_utilization")
    out = Text("GPU ", style="bold dim")
    if used is None and util is None:
        out.append(DASH, style="dim")
        return out
    if used is not None:
        mem = f"{num(used, '.1f')}/{num(total, '.1f')} GB" if total else f"{num(used, '.1f')} GB"
        out.append(mem, style=PRESSURE_STYLE[rule_level(snapshot, "", "cuda_memory_pressure")])
    if util is not None:
        out.append(" " if used is not None else "")
        out.append(f"{num(util, '.0f')}%")
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
    cpu.append(f"{num(v.cpu_percent, '.0f')}%")
    ram = Text("RAM ", style="bold dim")
    ram.append(f"{num(v.ram_used_gb, '.1f')}/{num(v.ram_total_gb, '.1f')} GB")
    rss = Text("RSS ", style="bold dim")
    rss.append(f"{num(v.process_rss_gb, '.2f')} GB")
    return pack([cpu, ram, rss, gpu_text(v, snapshot)], width, indent=5)
