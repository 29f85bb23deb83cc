"""Seed lifecycle of one slot: stages, gates and the records they produce.

DORMANT -> GERMINATED -> TRAINING -> BLENDING (alpha ramps to its target) -> HOLDING ->
FOSSILIZED (terminal); GERMINATED/TRAINING/BLENDING/HOLDING -> PRUNED -> EMBARGOED ->
RESETTING -> DORMANT. Transitions either follow a controller op (germinate, advance,
prune, fossilize, set alpha target) or happen at the end of an epoch (tick). A prune with
an alpha speed fades a blended seed out first (alpha ramps to 0, the slot takes no other
op meanwhile) and removes it when alpha reaches 0. Every change is recorded as a
`LifecycleRecord`, which emit.py turns into telemetry.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from esper.telemetry.v1 import telemetry_pb2 as tpb
from trainer_svc.blending import AlphaRamp

S = tpb.SeedStage
ACTIVE_STAGES = frozenset(
    {S.SEED_STAGE_GERMINATED, S.SEED_STAGE_TRAINING, S.SEED_STAGE_BLENDING, S.SEED_STAGE_HOLDING}
)
#: Stages whose module contributes to the host's output (alpha-blended).
BLENDED_STAGES = frozenset({S.SEED_STAGE_BLENDING, S.SEED_STAGE_HOLDING, S.SEED_STAGE_FOSSILIZED})
#: Stages whose module trains without changing the host's output (incubator).
INCUBATING_STAGES = frozenset({S.SEED_STAGE_GERMINATED, S.SEED_STAGE_TRAINING})
#: Stages whose params count against the budget.
OCCUPYING_STAGES = ACTIVE_STAGES | {S.SEED_STAGE_FOSSILIZED}
#: Cooldown after a prune: each step lasts one epoch.
COOLDOWN = {
    S.SEED_STAGE_PRUNED: S.SEED_STAGE_EMBARGOED,
    S.SEED_STAGE_EMBARGOED: S.SEED_STAGE_RESETTING,
    S.SEED_STAGE_RESETTING: S.SEED_STAGE_DORMANT,
}
MIN_TRAINING_EPOCHS = 1
FOSSILIZE_MIN_DELTA = -0.02


@dataclass
class LifecycleRecord:
    """One lifecycle change of a slot; `kind` picks the telemetry event type."""

    kind: str  # "germinated" | "stage_changed" | "gate" | "fossilized" | "pruned"
    slot_id: str
    blueprint_id: str
    seed_id: str = ""
    from_stage: tpb.SeedStage = S.SEED_STAGE_UNSPECIFIED
    to_stage: tpb.SeedStage = S.SEED_STAGE_UNSPECIFIED
    alpha: float = 0.0
    params: int = 0
    gate: str = ""
    passed: bool = False
    reason: str = ""
    improvement: float = 0.0
    epochs_total: int = 0
    counterfactual: float | None = None


@dataclass
class Slot:
    """A named place in the host (r{row}c{col}) and the seed it holds, if any."""

    slot_id: str
    stage: tpb.SeedStage = S.SEED_STAGE_DORMANT
    blueprint_id: str = ""
    seed_id: str = ""
    module: nn.Module | None = None
    params: int = 0
    style: str = "ADD"
    alpha: float = 0.0
    alpha_target: float = 1.0
    blend_epochs: int = 1
    #: alpha moving (BLENDING ramp, a SET_ALPHA_TARGET move, or a fade-out); None: settled.
    ramp: AlphaRamp | None = None
    #: A prune is fading the seed out; it is removed when the ramp ends.
    fading: bool = False
    prune_reason: str = ""
    prune_from: tpb.SeedStage = S.SEED_STAGE_UNSPECIFIED
    epochs_in_stage: int = 0
    epochs_total: int = 0
    acc_at_germination: float = 0.0
    accuracy_delta: float = 0.0
    #: Accuracy with the seed minus without it, measured at prune/fossilize; None: not measured.
    counterfactual: float | None = None

    @property
    def settled(self) -> bool:
        """Alpha is at its target and no prune is under way."""
        return self.ramp is None and not self.fading

    # -- transitions -------------------------------------------------------------------
    def _move(self, to: tpb.SeedStage, out: list[LifecycleRecord]) -> None:
        out.append(
            LifecycleRecord(
                "stage_changed", self.slot_id, self.blueprint_id, self.seed_id,
                from_stage=self.stage, to_stage=to, alpha=self.alpha,
            )
        )
        self.stage = to
        self.epochs_in_stage = 0

    def _gate(self, gate: str, passed: bool, target: tpb.SeedStage, reason: str,
              out: list[LifecycleRecord]) -> bool:
        out.append(
            LifecycleRecord("gate", self.slot_id, self.blueprint_id, self.seed_id,
                            gate=gate, passed=passed, to_stage=target, reason=reason)
        )
        return passed

    def germinate(self, blueprint_id: str, seed_id: str, module: nn.Module, params: int,
                  style: str, alpha_target: float, blend_epochs: int, accuracy: float,
                  out: list[LifecycleRecord]) -> None:
        assert self.stage == S.SEED_STAGE_DORMANT, "germinate needs a dormant slot"
        self.blueprint_id, self.seed_id, self.module, self.params = (
            blueprint_id, seed_id, module, params)
        self.style, self.alpha, self.alpha_target = style, 0.0, alpha_target
        self.blend_epochs, self.ramp, self.fading = max(1, blend_epochs), None, False
        self.epochs_total, self.acc_at_germination, self.accuracy_delta = 0, accuracy, 0.0
        self.counterfactual = None
        out.append(LifecycleRecord("germinated", self.slot_id, blueprint_id, seed_id,
                                   params=params))
        self._move(S.SEED_STAGE_GERMINATED, out)

    def advance(self, out: list[LifecycleRecord]) -> None:
        """Controller's ADVANCE: TRAINING -> BLENDING behind gate G2."""
        assert self.stage == S.SEED_STAGE_TRAINING, "advance needs a TRAINING seed"
        ok = self.epochs_in_stage >= MIN_TRAINING_EPOCHS
        reason = f"trained {self.epochs_in_stage} epoch(s), need {MIN_TRAINING_EPOCHS}"
        if self._gate("G2", ok, S.SEED_STAGE_BLENDING, reason, out):
            self._move(S.SEED_STAGE_BLENDING, out)
            self.ramp = AlphaRamp(0.0, self.alpha_target, self.blend_epochs)

    def set_alpha_target(self, target: float, epochs: int, curve: str) -> None:
        """Move alpha to `target` over `epochs` epochs along `curve` (0 epochs: at once)."""
        assert self.stage in (S.SEED_STAGE_BLENDING, S.SEED_STAGE_HOLDING) and not self.fading
        self.alpha_target = target
        if epochs <= 0:
            self.alpha, self.ramp = target, None
        else:
            self.ramp = AlphaRamp(self.alpha, target, epochs, curve)

    def fossilize(self, out: list[LifecycleRecord], counterfactual: float | None = None
                  ) -> None:
        """Controller's FOSSILIZE: settled HOLDING -> FOSSILIZED behind gate G4 (no harm done)."""
        assert self.stage == S.SEED_STAGE_HOLDING and self.settled, "fossilize needs HOLDING"
        ok = self.accuracy_delta >= FOSSILIZE_MIN_DELTA
        reason = f"accuracy delta {self.accuracy_delta:+.3f} vs min {FOSSILIZE_MIN_DELTA:+.3f}"
        if self._gate("G4", ok, S.SEED_STAGE_FOSSILIZED, reason, out):
            self._move(S.SEED_STAGE_FOSSILIZED, out)
            self.counterfactual = counterfactual
            out.append(LifecycleRecord(
                "fossilized", self.slot_id, self.blueprint_id, self.seed_id,
                params=self.params, improvement=self.accuracy_delta,
                epochs_total=self.epochs_total, counterfactual=counterfactual))

    def prune(self, reason: str, out: list[LifecycleRecord], *, epochs: int = 0,
              curve: str = "LINEAR", counterfactual: float | None = None) -> None:
        """Remove the seed from any active stage (the slot then cools down): at once, or,
        for a blended seed and `epochs` > 0, after fading alpha to 0 along `curve`."""
        assert self.stage in ACTIVE_STAGES and not self.fading, "prune needs an active seed"
        self.prune_reason, self.prune_from, self.counterfactual = (
            reason, self.stage, counterfactual)
        if epochs > 0 and self.stage in BLENDED_STAGES and self.alpha > 0:
            self.fading, self.ramp = True, AlphaRamp(self.alpha, 0.0, epochs, curve)
        else:
            self._remove(out)

    def _remove(self, out: list[LifecycleRecord]) -> None:
        self._move(S.SEED_STAGE_PRUNED, out)
        out.append(LifecycleRecord(
            "pruned", self.slot_id, self.blueprint_id, self.seed_id,
            from_stage=self.prune_from, reason=self.prune_reason,
            improvement=self.accuracy_delta, epochs_total=self.epochs_total,
            counterfactual=self.counterfactual))
        self.module, self.params, self.alpha = None, 0, 0.0
        self.ramp, self.fading = None, False

    def tick(self, accuracy: float, out: list[LifecycleRecord]) -> None:
        """End of a host epoch: count epochs, ramp alpha, run automatic gates, cool down."""
        self.epochs_in_stage += 1
        if self.stage in COOLDOWN:
            self._move(COOLDOWN[self.stage], out)
            if self.stage == S.SEED_STAGE_DORMANT:
                self.blueprint_id = self.seed_id = ""
                self.counterfactual = None
            return
        if self.stage not in OCCUPYING_STAGES:
            return
        self.epochs_total += 1
        self.accuracy_delta = accuracy - self.acc_at_germination
        if self.ramp is not None:
            self.alpha = self.ramp.step()
            if self.ramp.finished:
                self.ramp = None
                if self.fading:
                    self._remove(out)
                    return
        if self.stage == S.SEED_STAGE_GERMINATED:
            if self._gate("G1", True, S.SEED_STAGE_TRAINING, "seed built", out):
                self._move(S.SEED_STAGE_TRAINING, out)
        elif self.stage == S.SEED_STAGE_BLENDING and self.settled:
            reason = f"alpha reached {self.alpha:.2f}"
            if self._gate("G3", True, S.SEED_STAGE_HOLDING, reason, out):
                self._move(S.SEED_STAGE_HOLDING, out)
