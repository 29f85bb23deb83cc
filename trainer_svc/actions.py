"""The controller's action space: its 8 heads, their choices, and which heads each op uses.

Heads, in sampling order (the original controller's shape):

* op: the lifecycle operation (WAIT, GERMINATE, SET_ALPHA_TARGET, PRUNE, FOSSILIZE, ADVANCE);
* slot: where it applies;
* blueprint: the seed module to germinate;
* style: how the seed's output s joins the host activation h (GERMINATE): ADD h + a*s,
  MULTIPLY h * (1 + a*tanh s), GATE h + a*sigmoid(s)*s;
* tempo: epochs the first alpha ramp takes once the seed starts BLENDING (GERMINATE);
* alpha_target: the blend weight to reach (GERMINATE, SET_ALPHA_TARGET);
* alpha_speed: epochs a later alpha move takes (SET_ALPHA_TARGET; PRUNE fades the seed out
  over them before removing it; INSTANT moves at once);
* alpha_curve: the shape of that move (LINEAR, COSINE ease-in/out, SIGMOID near-step).
"""

from __future__ import annotations

from dataclasses import dataclass

from esper.telemetry.v1 import telemetry_pb2 as tpb

AH = tpb.ActionHead
OP = tpb.LifecycleOp

#: Op head index -> LifecycleOp (index i is enum value i + 1).
OPS: list[tpb.LifecycleOp] = [
    OP.LIFECYCLE_OP_WAIT,
    OP.LIFECYCLE_OP_GERMINATE,
    OP.LIFECYCLE_OP_SET_ALPHA_TARGET,
    OP.LIFECYCLE_OP_PRUNE,
    OP.LIFECYCLE_OP_FOSSILIZE,
    OP.LIFECYCLE_OP_ADVANCE,
]
#: Blueprint head: the seed modules, in action order (trainer_svc.blueprints builds them;
#: kept here, torch-free, for what only names them: telemetry builders, the action space).
BLUEPRINT_IDS: list[str] = ["norm", "lora", "mlp_small", "mlp"]
#: Grid of slots, named r{row}c{col}; order = slot head indices = position in the host.
SLOT_IDS: list[str] = ["r0c0", "r0c1", "r1c0"]
#: Style head: the blend algorithm (see trainer_svc.blending).
STYLES: list[str] = ["ADD", "MULTIPLY", "GATE"]
#: Tempo head: epochs the first alpha ramp takes while BLENDING.
TEMPO_EPOCHS: list[int] = [1, 2, 4]
#: Alpha-target head: the blend weight a seed ramps to.
ALPHA_TARGETS: list[float] = [0.5, 0.75, 1.0]
#: Alpha-speed head: name -> epochs of an alpha move (0 = at once).
ALPHA_SPEEDS: dict[str, int] = {"INSTANT": 0, "FAST": 1, "MEDIUM": 2, "SLOW": 4}
SPEED_EPOCHS: list[int] = list(ALPHA_SPEEDS.values())
#: Alpha-curve head: shape of an alpha move (see trainer_svc.blending.curve).
ALPHA_CURVES: list[str] = ["LINEAR", "COSINE", "SIGMOID"]


@dataclass(frozen=True)
class HeadDef:
    head: tpb.ActionHead
    name: str
    labels: tuple[str, ...]

    @property
    def n_actions(self) -> int:
        return len(self.labels)


HEADS: list[HeadDef] = [
    HeadDef(AH.ACTION_HEAD_OP, "op", tuple(OP.Name(o).removeprefix("LIFECYCLE_OP_") for o in OPS)),
    HeadDef(AH.ACTION_HEAD_SLOT, "slot", tuple(SLOT_IDS)),
    HeadDef(AH.ACTION_HEAD_BLUEPRINT, "blueprint", tuple(BLUEPRINT_IDS)),
    HeadDef(AH.ACTION_HEAD_STYLE, "style", tuple(STYLES)),
    HeadDef(AH.ACTION_HEAD_TEMPO, "tempo", tuple(f"{e}ep" for e in TEMPO_EPOCHS)),
    HeadDef(AH.ACTION_HEAD_ALPHA_TARGET, "alpha_target", tuple(f"{a:.2f}" for a in ALPHA_TARGETS)),
    HeadDef(AH.ACTION_HEAD_ALPHA_SPEED, "alpha_speed", tuple(ALPHA_SPEEDS)),
    HeadDef(AH.ACTION_HEAD_ALPHA_CURVE, "alpha_curve", tuple(ALPHA_CURVES)),
]
HEAD_NAMES: list[str] = [h.name for h in HEADS]
HEAD_INDEX: dict[str, int] = {name: i for i, name in enumerate(HEAD_NAMES)}
#: Widest head: per-step masks are stored padded to this many actions.
MAX_ACTIONS: int = max(h.n_actions for h in HEADS)

#: Heads whose choice matters for each op (the others are sampled but carry no
#: log-probability, so PPO does not credit them for an outcome they did not cause).
RELEVANT: dict[int, frozenset[str]] = {
    OP.LIFECYCLE_OP_WAIT: frozenset({"op"}),
    OP.LIFECYCLE_OP_GERMINATE: frozenset(
        {"op", "slot", "blueprint", "style", "tempo", "alpha_target"}),
    OP.LIFECYCLE_OP_SET_ALPHA_TARGET: frozenset(
        {"op", "slot", "alpha_target", "alpha_speed", "alpha_curve"}),
    OP.LIFECYCLE_OP_PRUNE: frozenset({"op", "slot", "alpha_speed", "alpha_curve"}),
    OP.LIFECYCLE_OP_FOSSILIZE: frozenset({"op", "slot"}),
    OP.LIFECYCLE_OP_ADVANCE: frozenset({"op", "slot"}),
}


@dataclass(frozen=True)
class Action:
    """One env's decoded choice: an index per head, in HEADS order."""

    op: int  # index into OPS
    slot: int
    blueprint: int
    style: int
    tempo: int
    alpha_target: int
    alpha_speed: int
    alpha_curve: int

    @property
    def lifecycle_op(self) -> int:
        return OPS[self.op]


def valid_bits(mask: list[bool]) -> int:
    """A head's mask row as an integer: bit i set when action i is valid."""
    return sum(1 << i for i, ok in enumerate(mask) if ok)
