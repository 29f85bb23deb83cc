"""Heads panel (seed plan 004, Task 6.2): per-head entropy / grad-norm bars + flow footer."""

from __future__ import annotations

from rich.text import Text

from esper.sanctum.v1 import sanctum_pb2 as spb
from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_common.derived import gradient_cv_status
from tui_client.renderables.fmt import DASH, bar, num, pct
from tui_client.renderables.health import head_max_entropy

CV_STYLE = {"stable": "green", "warn": "yellow", "BAD": "red"}
BAR_WIDTH = 10


def head_name(head: int) -> str:
    """ACTION_HEAD_ALPHA_TARGET -> "alpha_target"."""
    try:
        return tpb.ActionHead.Name(head).removeprefix("ACTION_HEAD_").lower()
    except ValueError:
        return f"head{head}"


def flow_footer(tamiyo: spb.TamiyoState) -> Text:
    """`Flow: CV:0.42 stable  Dead:0/N  Exploding:0/N  Clip:↑10%/↓5%` with the seed colours.

    CV green < 0.5, yellow < 2.0, red otherwise; "CV:—" when it was not measured.
    Layers green only when dead and exploding are both 0. N is tamiyo.total_layers.
    """
    out = Text("Flow: ", style="dim")
    gq = tamiyo.gradient_quality
    if gq.HasField("gradient_cv"):
        status = gradient_cv_status(gq.gradient_cv)
        out.append(f"CV:{gq.gradient_cv:.2f} ", style=CV_STYLE[status])
        out.append(status, style="dim")
    else:
        out.append(f"CV:{DASH}", style="dim")
    out.append("  ")
    if tamiyo.ppo_data_received and tamiyo.total_layers > 0:
        dead, expl, total = tamiyo.dead_layers, tamiyo.exploding_layers, tamiyo.total_layers
        style = "green" if dead == 0 and expl == 0 else "red"
        out.append(f"Dead:{dead}/{total}  Exploding:{expl}/{total}", style=style)
    else:
        out.append(f"Dead:{DASH}  Exploding:{DASH}", style="dim")
    out.append("  ")
    if tamiyo.ppo_data_received:
        out.append(
            f"Clip:↑{pct(gq.clip_fraction_positive)}/↓{pct(gq.clip_fraction_negative)}",
            style="dim",
        )
    else:
        out.append(f"Clip:{DASH}", style="dim")
    return out


def heads_text(snapshot: spb.SanctumSnapshot | None) -> Text:
    """One row per action head: normalised entropy bar and grad-norm bar, then the footer."""
    if snapshot is None or not snapshot.tamiyo.ppo_data_received:
        out = Text("no PPO update yet\n", style="dim")
        out.append_text(flow_footer(snapshot.tamiyo if snapshot else spb.TamiyoState()))
        return out
    tamiyo = snapshot.tamiyo
    maxima = head_max_entropy(snapshot.run_config)
    top_grad = max((h.grad_norm for h in tamiyo.heads), default=0.0)
    out = Text()
    out.append(f"{'head':<13}{'entropy':<{BAR_WIDTH + 7}} grad norm\n", style="bold dim")
    for h in tamiyo.heads:
        out.append(f"{head_name(h.head):<13}")
        if h.head in maxima:
            frac = h.entropy / maxima[h.head]
            style = "red" if frac < 0.1 else ("yellow" if frac < 0.3 else "cyan")
            out.append(bar(frac, BAR_WIDTH), style=style)
            out.append(f" {num(frac, '.2f'):>5} ")
        else:
            out.append(f"{'':<{BAR_WIDTH}} {num(h.entropy, '.2f'):>5} ", style="dim")
        frac_g = h.grad_norm / top_grad if top_grad > 0 else 0.0
        out.append(bar(frac_g, BAR_WIDTH), style="magenta")
        out.append(f" {num(h.grad_norm, '.3f')}\n")
    if not tamiyo.heads:
        out.append("no per-head metrics\n", style="dim")
    out.append_text(flow_footer(tamiyo))
    return out
