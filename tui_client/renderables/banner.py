"""Tamiyo status banner (seed plan 004, Task 6.1): status, key metrics, memory percent;
its border carries the compile status (title) and the rollout throughput (subtitle), where
compile problems surface."""

from __future__ import annotations

from rich.text import Text

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper_common.derived import memory_usage_percent
from tui_client.renderables.fmt import num, opt, pct
from tui_client.renderables.groups import group_of
from tui_client.renderables.health import Verdict, evaluate

STATUS_LABEL = {
    "ok": ("● OK", "bold green"),
    "warning": ("▲ WARNING", "bold yellow"),
    "critical": ("✖ CRITICAL", "bold red"),
    "warmup": ("◌ WARMUP", "bold cyan"),
}


def compile_enabled(snapshot: spb.SanctumSnapshot) -> bool:
    """Compile is on when the run config says so."""
    return snapshot.run.config.compile_enabled


def banner_title(snapshot: spb.SanctumSnapshot | None) -> str:
    """Border title: "TAMIYO [compiled]" when torch.compile is on, else "TAMIYO"."""
    if snapshot is not None and compile_enabled(snapshot):
        return "TAMIYO [compiled]"
    return "TAMIYO"


def memory_style(percent: float) -> str:
    """dim up to 75 %, yellow above 75 %, red bold above 90 %."""
    if percent > 90:
        return "red bold"
    if percent > 75:
        return "yellow"
    return "dim"


def memory_text(group: spb.PolicyGroup) -> Text | None:
    """ "[Mem:53%]" (allocated/reserved CUDA memory, last measured); None when not measured,
    and hidden at 0 % (nothing reserved, or nothing allocated): no badge rather than
    "[Mem:0%]"."""
    percent = memory_usage_percent(group.last_measured)
    if percent is None or percent <= 0:
        return None
    return Text(f"[Mem:{num(percent, '.0f')}%]", style=memory_style(percent))


def throughput_text(group: spb.PolicyGroup | None) -> str:
    """ "812 fps · 4.9 ms/step" (rollout env steps/s, wall ms per lockstep step) of the
    group's latest PPO update, "—" for a value it did not measure; "" before any update."""
    if group is None or not group.HasField("last_update"):
        return ""
    update = group.last_update
    fps, step = num(opt(update, "fps"), ",.0f"), num(opt(update, "step_time_ms"), ".1f")
    return f"{fps} fps · {step} ms/step"


def banner_text(snapshot: spb.SanctumSnapshot | None, group: spb.PolicyGroup | None = None,
                verdict: Verdict | None = None) -> Text:
    """One-line banner of `group` (the primary by default): status label, update count, key
    metrics, reasons, memory percent."""
    if snapshot is None:
        return Text("waiting for a snapshot…", style="dim")
    group = group if group is not None else group_of(snapshot, None)
    verdict = verdict or evaluate(snapshot, group)
    label, style = STATUS_LABEL[verdict.status]
    out = Text.assemble((label, style), "  ")
    if group.HasField("last_update"):
        t = group.last_update
        out.append(f"Upd {group.updates}  ")
        out.append(f"KL {num(t.kl_divergence, '.4f')}  ")
        out.append(f"Clip {pct(t.clip_fraction)}  ")
        out.append(f"EV {num(t.explained_variance, '.2f')}  ")
        out.append(f"Ent {num(t.entropy, '.3f')}  ")
        out.append(f"GN {num(t.grad_norm, '.3f')}")
    if verdict.reasons:
        out.append("  ")
        out.append(" · ".join(verdict.reasons[:3]), style=style.replace("bold ", ""))
    mem = memory_text(group)
    if mem is not None:
        out.append("  ")
        out.append_text(mem)
    return out
