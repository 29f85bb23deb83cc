"""Seed lifecycle of one slot: stages, gates and the records they produce.

DORMANT -> GERMINATED -> TRAINING -> BLENDING (alpha ramps to its target) -> HOLDING ->
FOSSILIZED (terminal); GERMINATED/TRAINING/BLENDING/HOLDING -> PRUNED -> EMBARGOED ->
RESETTING -> DORMANT. Transitions either follow a controller op (germinate, advance,
prune, fossilize, set alpha target) or happen at the end of an epoch (tick). Every
change is recorded as a `LifecycleRecord`, which emit.py turns into telemetry.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from esper.telemetry.v1 import telemetry_pb2 as tpb

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


@dataclass
class Slot:
    """A named place in the host (r{row}c{col}) and the seed it holds, if any."""

    slot_id: str
    stage: tpb.SeedStage = S.SEED_STAGE_DORMANT
    blueprint_id: str = ""
    seed_id: str = ""
    module: nn.Module | None = None
    params: int = 0
    alpha: float = 0.0
    alpha_target: float = 1.0
    alpha_step: float = 0.5
    epochs_in_stage: int = 0
    epochs_total: int = 0
    acc_at_germination: float = 0.0
    accuracy_delta: float = 0.0

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
                  alpha_target: float, blend_epochs: int, accuracy: float,
                  out: list[LifecycleRecord]) -> None:
        assert self.stage == S.SEED_STAGE_DORMANT, "germinate needs a dormant slot"
        self.blueprint_id, self.seed_id, self.module, self.params = (
            blueprint_id, seed_id, module, params)
        self.alpha, self.alpha_target = 0.0, alpha_target
        self.alpha_step = alpha_target / max(1, blend_epochs)
        self.epochs_total, self.acc_at_germination, self.accuracy_delta = 0, accuracy, 0.0
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

    def set_alpha_target(self, target: float) -> None:
        assert self.stage in (S.SEED_STAGE_BLENDING, S.SEED_STAGE_HOLDING)
        self.alpha_target = target
        if self.stage == S.SEED_STAGE_HOLDING:
            self.alpha = target

    def fossilize(self, out: list[LifecycleRecord]) -> None:
        """Controller's FOSSILIZE: HOLDING -> FOSSILIZED behind gate G4 (no harm done)."""
        assert self.stage == S.SEED_STAGE_HOLDING, "fossilize needs a HOLDING seed"
        ok = self.accuracy_delta >= FOSSILIZE_MIN_DELTA
        reason = f"accuracy delta {self.accuracy_delta:+.3f} vs min {FOSSILIZE_MIN_DELTA:+.3f}"
        if self._gate("G4", ok, S.SEED_STAGE_FOSSILIZED, reason, out):
            self._move(S.SEED_STAGE_FOSSILIZED, out)
            out.append(LifecycleRecord(
                "fossilized", self.slot_id, self.blueprint_id, self.seed_id,
                params=self.params, improvement=self.accuracy_delta,
                epochs_total=self.epochs_total))

    def prune(self, reason: str, out: list[LifecycleRecord]) -> None:
        """Remove the seed from any active stage; the slot then cools down."""
        assert self.stage in ACTIVE_STAGES, "prune needs an active seed"
        from_stage = self.stage
        self._move(S.SEED_STAGE_PRUNED, out)
        out.append(LifecycleRecord(
            "pruned", self.slot_id, self.blueprint_id, self.seed_id, from_stage=from_stage,
            reason=reason, improvement=self.accuracy_delta, epochs_total=self.epochs_total))
        self.module, self.params, self.alpha = None, 0, 0.0

    def tick(self, accuracy: float, out: list[LifecycleRecord]) -> None:
        """End of a host epoch: count epochs, ramp alpha, run automatic gates, cool down."""
        self.epochs_in_stage += 1
        if self.stage in COOLDOWN:
            self._move(COOLDOWN[self.stage], out)
            if self.stage == S.SEED_STAGE_DORMANT:
                self.blueprint_id = self.seed_id = ""
            return
        if self.stage not in OCCUPYING_STAGES:
            return
        self.epochs_total += 1
        self.accuracy_delta = accuracy - self.acc_at_germination
        if self.stage == S.SEED_STAGE_GERMINATED:
            if self._gate("G1", True, S.SEED_STAGE_TRAINING, "seed built", out):
                self._move(S.SEED_STAGE_TRAINING, out)
        elif self.stage == S.SEED_STAGE_BLENDING:
            self.alpha = min(self.alpha_target, self.alpha + self.alpha_step)
            if self.alpha >= self.alpha_target - 1e-9:
                reason = f"alpha reached {self.alpha:.2f}"
                if self._gate("G3", True, S.SEED_STAGE_HOLDING, reason, out):
                    self._move(S.SEED_STAGE_HOLDING, out)
