"""The controller's action space: heads, their choices, and which heads each op uses."""

from __future__ import annotations

from dataclasses import dataclass

from esper.telemetry.v1 import telemetry_pb2 as tpb
from trainer_svc.blueprints import BLUEPRINT_IDS

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
#: Tempo head: epochs the alpha ramp takes while BLENDING.
TEMPO_EPOCHS: list[int] = [1, 2, 4]
#: Alpha-target head: the blend weight a seed ramps to.
ALPHA_TARGETS: list[float] = [0.5, 0.75, 1.0]
#: Grid of slots, named r{row}c{col}; order = slot head indices = position in the host.
SLOT_IDS: list[str] = ["r0c0", "r0c1", "r1c0"]


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
    HeadDef(AH.ACTION_HEAD_TEMPO, "tempo", tuple(f"{e}ep" for e in TEMPO_EPOCHS)),
    HeadDef(AH.ACTION_HEAD_ALPHA_TARGET, "alpha_target", tuple(f"{a:.2f}" for a in ALPHA_TARGETS)),
]
HEAD_NAMES: list[str] = [h.name for h in HEADS]

#: Heads whose choice matters for each op (the others are sampled but carry no
#: log-probability, so PPO does not credit them for an outcome they did not cause).
RELEVANT: dict[int, frozenset[str]] = {
    OP.LIFECYCLE_OP_WAIT: frozenset({"op"}),
    OP.LIFECYCLE_OP_GERMINATE: frozenset({"op", "slot", "blueprint", "tempo", "alpha_target"}),
    OP.LIFECYCLE_OP_SET_ALPHA_TARGET: frozenset({"op", "slot", "alpha_target"}),
    OP.LIFECYCLE_OP_PRUNE: frozenset({"op", "slot"}),
    OP.LIFECYCLE_OP_FOSSILIZE: frozenset({"op", "slot"}),
    OP.LIFECYCLE_OP_ADVANCE: frozenset({"op", "slot"}),
}


@dataclass(frozen=True)
class Action:
    """One env's decoded choice: indices per head."""

    op: int  # index into OPS
    slot: int
    blueprint: int
    tempo: int
    alpha_target: int

    @property
    def lifecycle_op(self) -> int:
        return OPS[self.op]
