"""ANALYTICS_SNAPSHOT kind=last_action: the controller's per-step decision as a decision
card, head by head.

The original writes, per decision, the op and each head's chosen value (null when the op
did not use the head: that is its causal relevance), each head's confidence (probability
of the chosen action) and entropy in `head_telemetry`, and `<head>_masked` when the masks
left the head a single valid action. It does not write the masks themselves, so a forced
head is marked `forced` and `valid_mask` stays 0 (not recorded).
"""

from __future__ import annotations

from typing import cast

from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_client.bridge.context import Ctx
from esper_client.bridge.registry import maps
from esper_client.bridge.values import set_fields

AH = tpb.ActionHead

#: (head, its value key in the record, its key prefix in head_telemetry), in the
#: controller's sampling order.
HEADS: tuple[tuple[tpb.ActionHead, str, str], ...] = (
    (AH.ACTION_HEAD_OP, "action_name", "op"),
    (AH.ACTION_HEAD_SLOT, "slot_id", "slot"),
    (AH.ACTION_HEAD_BLUEPRINT, "blueprint_id", "blueprint"),
    (AH.ACTION_HEAD_STYLE, "style", "style"),
    (AH.ACTION_HEAD_TEMPO, "tempo_idx", "tempo"),
    (AH.ACTION_HEAD_ALPHA_TARGET, "alpha_target", "alpha_target"),
    (AH.ACTION_HEAD_ALPHA_SPEED, "alpha_speed", "alpha_speed"),
    (AH.ACTION_HEAD_ALPHA_CURVE, "alpha_curve", "curve"),
)
#: `<name>_masked` flag of each head (the alpha curve's confidence key differs).
_MASK_KEY = {AH.ACTION_HEAD_ALPHA_CURVE: "alpha_curve_masked"}
WAIT = "WAIT"


def op_value(name: object) -> tpb.LifecycleOp:
    """The original's op name as a LifecycleOp; UNSPECIFIED when unknown."""
    if isinstance(name, str):
        try:
            return cast(tpb.LifecycleOp, tpb.LifecycleOp.Value("LIFECYCLE_OP_" + name.upper()))
        except ValueError:
            pass
    return tpb.LIFECYCLE_OP_UNSPECIFIED


def _action(value: object) -> str:
    """A head's chosen value as the card shows it."""
    if isinstance(value, float):
        return f"{value:.2f}"
    return "" if value is None else str(value)


def head_choices(c: Ctx, op_name: object) -> list[tpb.HeadChoice]:
    """The 8 heads: action, probability, entropy, relevance and forced flag."""
    v = c.v
    data = c.data
    telemetry = data.get("head_telemetry")
    if not isinstance(telemetry, dict):
        telemetry = {}
    out = []
    for head, value_key, prefix in HEADS:
        value = data.get(value_key)
        if head == AH.ACTION_HEAD_SLOT:
            relevant = op_name != WAIT and value is not None
        else:
            relevant = value is not None
        choice = tpb.HeadChoice(head=head, action=v.clip(value_key, _action(value)),
                                relevant=relevant)
        set_fields(choice, probability=v.num(f"{prefix}_confidence", telemetry),
                   entropy=v.num(f"{prefix}_entropy", telemetry))
        mask_key = _MASK_KEY.get(head, f"{prefix}_masked")
        if relevant and data.get(mask_key) is True:
            choice.forced = True
        out.append(choice)
    return out


@maps("ANALYTICS_SNAPSHOT[kind=last_action]")
def last_action(c: Ctx) -> tpb.TelemetryEvent:
    v = c.v
    env_id = c.env_id()
    op_name = c.data.get("action_name")
    op = op_value(op_name)
    slot_id = ""
    if op_name != WAIT and isinstance(c.data.get("slot_id"), str):
        slot_id = c.slot_id()
    card = tpb.DecisionCard(env_id=env_id, op=op, slot_id=slot_id,
                            blueprint_id=v.text("blueprint_id"),
                            heads=head_choices(c, op_name), group_id=c.group)
    epoch = v.u32("inner_epoch")
    set_fields(card, value_estimate=v.num("value_estimate"), reward=v.num("total_reward"),
               epoch=epoch)
    return c.event(tpb.EVENT_TYPE_ANALYTICS_SNAPSHOT, env_id=env_id, epoch=epoch,
                   episode=v.u64("episode_idx"),
                   analytics_snapshot=tpb.AnalyticsSnapshotPayload(decision=card))
