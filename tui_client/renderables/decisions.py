"""Decision cards: the controller's last choice (op, slot, blueprint, every head's action
with its probability, value estimate, reward) and a feed of recent decisions."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.telemetry.v1 import telemetry_pb2 as tpb
from tui_client.renderables.fmt import DASH, clip, num, opt, pack, pct
from tui_client.renderables.heads import head_name

OP_STYLE: dict[int, str] = {
    tpb.LIFECYCLE_OP_WAIT: "dim",
    tpb.LIFECYCLE_OP_GERMINATE: "bold green",
    tpb.LIFECYCLE_OP_SET_ALPHA_TARGET: "cyan",
    tpb.LIFECYCLE_OP_PRUNE: "bold red",
    tpb.LIFECYCLE_OP_FOSSILIZE: "bold magenta",
    tpb.LIFECYCLE_OP_ADVANCE: "blue",
}


def op_name(op: int) -> str:
    """LIFECYCLE_OP_SET_ALPHA_TARGET -> "SET_ALPHA_TARGET"; unset -> "—"."""
    if op == tpb.LIFECYCLE_OP_UNSPECIFIED:
        return DASH
    try:
        return tpb.LifecycleOp.Name(op).removeprefix("LIFECYCLE_OP_")
    except ValueError:
        return f"OP{op}"


def target_text(card: tpb.DecisionCard) -> str:
    """ "r0c1 lora", "r0c1", or "" for a decision that names no slot / blueprint."""
    return " ".join(clip(part, 32) for part in (card.slot_id, card.blueprint_id) if part)


def choice_text(choice: tpb.HeadChoice, ignored: bool = False) -> Text:
    """ "op=GERMINATE 71%" (probability of the chosen action; entropy is in the heads panel).
    A head the op ignored (`ignored`) is dimmed whole."""
    if ignored:
        return Text(f"{head_name(choice.head)}={choice.action or DASH}", style="dim")
    out = Text(f"{head_name(choice.head)}=", style="dim")
    out.append(clip(choice.action, 32) or DASH)
    out.append(f" {pct(choice.probability)}", style="cyan")
    return out


def card_text(card: tpb.DecisionCard, width: int = 60) -> Text:
    """A full card: who/what, value estimate, reward ("—" when not known yet), masking,
    then every head's chosen action and its probability."""
    out = Text()
    out.append(f"env {card.env_id}", style="bold cyan")
    out.append(f" · epoch {card.epoch}  ", style="dim")
    out.append(op_name(card.op), style=OP_STYLE.get(card.op, ""))
    target = target_text(card)
    if target:
        out.append(f" {target}")
    out.append("\n")
    reward = opt(card, "reward")
    out.append(f"V {num(card.value_estimate, '+.3f')}  R {num(reward, '+.3f')}  ")
    out.append(f"masked {card.masked_actions}", style="dim")
    if card.heads:
        out.append("\n")
        # producers that report relevance mark at least the op head relevant
        known = any(c.relevant for c in card.heads)
        out.append_text(pack([choice_text(c, known and not c.relevant) for c in card.heads],
                             width))
    return out


def feed_line(card: tpb.DecisionCard, width: int | None = None) -> Text:
    """One feed entry: `env 4  FOSSILIZE r0c0 conv_light  V+1.40 R+0.040` (epoch in the
    card), wrapped between its parts when `width` is too small."""
    what = Text(op_name(card.op), style=OP_STYLE.get(card.op, ""))
    target = target_text(card)
    if target:
        what.append(f" {target}")
    reward = opt(card, "reward")
    value = Text(f"V{num(card.value_estimate, '+.2f')} R{num(reward, '+.3f')}", style="dim")
    return pack([Text(f"env {card.env_id}", style="cyan"), what, value], width, indent=6)


def decisions_text(
    last: tpb.DecisionCard | None,
    recent: Sequence[tpb.DecisionCard],
    width: int = 60,
    limit: int = 20,
) -> Text:
    """The last decision as a card, then up to `limit` recent ones, newest first."""
    if last is None and not recent:
        return Text("no decision yet", style="dim")
    out = Text()
    if last is not None:
        out.append_text(card_text(last, width))
    feed = list(recent)[::-1]
    if last is not None and feed and feed[0] == last:
        feed = feed[1:]  # already shown as the card
    if feed:
        if last is not None:
            out.append("\n")
        out.append("recent", style="bold dim")
        for card in feed[:limit]:
            out.append("\n")
            out.append_text(feed_line(card, width))
    return out


def group_feed(snapshot: spb.SanctumSnapshot | None, group: spb.PolicyGroup | None
               ) -> list[tpb.DecisionCard]:
    """The recent decisions of `group`, oldest first, ending with its last one: the server
    sends each card once (a group's last decision only in its PolicyGroup; an older server
    also repeated it in the feed, so it is not added twice). When the server does not say
    which group decided, the feed is not filtered. A/B groups reuse env ids, so a mixed feed
    would mislead."""
    recent = list(snapshot.decisions.recent) if snapshot is not None else []
    if group is None:
        return recent
    if any(card.group_id for card in recent) or group.last_decision.group_id:
        recent = [card for card in recent if card.group_id == group.group_id]
    if group.HasField("last_decision") and (not recent or recent[-1] != group.last_decision):
        recent.append(group.last_decision)
    return recent


def env_decisions(
    recent: Sequence[tpb.DecisionCard],
    env_id: int,
    width: int = 60,
    limit: int = 8,
    group_id: str = "",
) -> Text:
    """Decisions about one env of one policy group (for its detail screen), from the
    group's feed (`group_decisions`): newest as a card, then the feed."""
    mine = [card for card in recent if card.env_id == env_id and card.group_id == group_id]
    return decisions_text(mine[-1] if mine else None, mine, width, limit)


def group_decisions(snapshot: spb.SanctumSnapshot | None, group: spb.PolicyGroup,
                    width: int = 60) -> Text:
    """The decisions panel: `group`'s last decision as a card, then its feed (`group_feed`)."""
    last = group.last_decision if group.HasField("last_decision") else None
    return decisions_text(last, group_feed(snapshot, group), width)
