"""Heads panel (seed plan 004, Task 6.2): per-head entropy / grad-norm bars + flow footer."""

from __future__ import annotations

from rich.text import Text

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_common.derived import gradient_cv_status
from esper_common.presentation import shown
from tui_client.renderables.fmt import DASH, bar, num, pct
from tui_client.renderables.groups import group_of
from tui_client.renderables.health import head_max_entropy

CV_STYLE = {"stable": "green", "warn": "yellow", "BAD": "red"}
BAR_WIDTH = 10
#: Column labels and value formats of HeadMetrics.
_COLUMNS = shown(tpb.HeadMetrics)
_ENTROPY, _GRAD = _COLUMNS["entropy"], _COLUMNS["grad_norm"]
#: The footer's lead-in, and the seed's spacing between its groups.
FLOW_PREFIX = "─ Flow: "
SEED_SEP = "   "


def head_name(head: int) -> str:
    """ACTION_HEAD_ALPHA_TARGET -> "alpha_target"."""
    try:
        return tpb.ActionHead.Name(head).removeprefix("ACTION_HEAD_").lower()
    except ValueError:
        return f"head{head}"


def _flow_parts(
    group: spb.PolicyGroup, sep: str = SEED_SEP, exploding: str = "Exploding"
) -> tuple[Text, Text, Text]:
    """The footer's three coloured groups: CV (last measured), dead/exploding layers and
    directional clip (latest update)."""
    measured, update = group.last_measured, group.last_update
    known = group.HasField("last_update")
    cv = Text()
    if measured.HasField("gradient_cv"):
        status = gradient_cv_status(measured.gradient_cv)
        cv.append(f"CV:{num(measured.gradient_cv, '.2f')} ", style=CV_STYLE[status])
        cv.append(status, style="dim")
    else:
        cv.append(f"CV:{DASH}", style="dim")
    layers = Text()
    if known and update.total_layers > 0:
        dead, expl, total = update.dead_layers, update.exploding_layers, update.total_layers
        style = "green" if dead == 0 and expl == 0 else "red"
        layers.append(f"Dead:{dead}/{total}{sep}{exploding}:{expl}/{total}", style=style)
    else:
        layers.append(f"Dead:{DASH}{sep}{exploding}:{DASH}", style="dim")
    if known:
        pos, neg = pct(update.clip_fraction_positive), pct(update.clip_fraction_negative)
        clip = Text(f"Clip:↑{pos}/↓{neg}", style="dim")
    else:
        clip = Text(f"Clip:{DASH}", style="dim")
    return cv, layers, clip


def flow_footer(group: spb.PolicyGroup, width: int | None = None) -> Text:
    """`─ Flow: CV:0.42 stable   Dead:0/N   Exploding:0/N   Clip:↑10%/↓5%`: the seed's text,
    spacing and colours.

    CV green < 0.5, yellow < 2.0, red otherwise; "CV:—" when it was not measured.
    Layers green only when dead and exploding are both 0. N is the update's total_layers.

    Given the panel's `width`, the footer stays on one line as long as it can: the seed's
    three-space spacing, then two, then one, then "Expl:" for "Exploding:"; narrower than
    that it breaks before the layer counts (never in the middle of a group).
    """
    tiers = ((SEED_SEP, "Exploding"), ("  ", "Exploding"), (" ", "Exploding"), (" ", "Expl"))
    for sep, exploding in tiers:
        cv, layers, clip = _flow_parts(group, sep, exploding)
        out = Text()
        out.append(FLOW_PREFIX, style="dim")
        out.append_text(Text(sep).join([cv, layers, clip]))
        if width is None or out.cell_len <= width:
            return out
    cv, layers, clip = _flow_parts(group, " ", "Expl")
    out = Text()
    out.append(FLOW_PREFIX, style="dim")
    out.append_text(Text(" ").join([cv, clip]))
    out.append("\n" + " " * len(FLOW_PREFIX))
    out.append_text(layers)
    return out


def heads_text(snapshot: spb.SanctumSnapshot | None, group: spb.PolicyGroup | None = None,
               width: int | None = None) -> Text:
    """One row per action head of `group` (the primary by default): normalised entropy bar
    and grad-norm bar, then the footer (fitted to `width` when given)."""
    group = group if group is not None else group_of(snapshot, None)
    if snapshot is None or not group.HasField("last_update"):
        out = Text("no PPO update yet\n", style="dim")
        out.append_text(flow_footer(group, width))
        return out
    heads = group.last_update.heads
    maxima = head_max_entropy(snapshot.run.config)
    top_grad = max((h.grad_norm for h in heads), default=0.0)
    out = Text()
    out.append(f"{'head':<13}{_ENTROPY.label:<{BAR_WIDTH + 7}} {_GRAD.label}\n",
               style="bold dim")
    for h in heads:
        out.append(f"{head_name(h.head):<13}")
        if h.head in maxima:
            frac = h.entropy / maxima[h.head]
            style = "red" if frac < 0.1 else ("yellow" if frac < 0.3 else "cyan")
            out.append(bar(frac, BAR_WIDTH), style=style)
            out.append(f" {num(frac, '.2f'):>5} ")
        else:
            out.append(f"{'':<{BAR_WIDTH}} {_ENTROPY.text(h.entropy):>5} ", style="dim")
        frac_g = h.grad_norm / top_grad if top_grad > 0 else 0.0
        out.append(bar(frac_g, BAR_WIDTH), style="magenta")
        out.append(f" {_GRAD.text(h.grad_norm)}\n")
    if not heads:
        out.append("no per-head metrics\n", style="dim")
    out.append_text(flow_footer(group, width))
    return out
