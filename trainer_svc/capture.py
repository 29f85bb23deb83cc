"""The trainer's per-step events as captured values, built into messages later.

The training thread copies what an event needs into a tuple of plain values (numbers,
strings, tuples of them) and hands it on in a carrier; `build()` turns it into the
TelemetryEvent wherever it runs: on the telemetry client's sender thread, in a child
process the carrier was pickled to, or at once when the sink only has `emit()`.
trainer_svc.emit does the capturing; this module holds the carriers and their builders and
imports neither torch nor the trainer's state, so unpickling a carrier is cheap anywhere.
"""

from __future__ import annotations

from typing import Any

from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_client.deferred import Deferred
from esper_common.events import make_event
from trainer_svc.actions import BLUEPRINT_IDS, HEADS, OPS, SLOT_IDS, valid_bits

ET = tpb.EventType
SEV = tpb.Severity
_WAIT, _GERMINATE = tpb.LIFECYCLE_OP_WAIT, tpb.LIFECYCLE_OP_GERMINATE


class Captured(Deferred):
    """A carrier of captured values; subclasses name the builder. Pickles as its class,
    values, event type, seq and emit time only (never a pool)."""

    __slots__ = ("values",)

    def __init__(self, event_type: int, values: tuple[Any, ...]) -> None:
        # Deferred.__init__'s fields set here: one call less for every per-step event
        self.pool, self.seq, self.emitted_ns = None, 0, 0
        self.event_type = event_type
        self.values = values

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore, (type(self), self.event_type, self.values, self.seq,
                           self.emitted_ns))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(event_type={self.event_type}, seq={self.seq})"


def _restore(cls: type[Captured], event_type: int, values: tuple[Any, ...], seq: int,
             emitted_ns: int) -> Captured:
    item = cls(event_type, values)
    item.seq, item.emitted_ns = seq, emitted_ns
    return item


# -- EPOCH_COMPLETED ----------------------------------------------------------------------
#: A seed's captured values: (slot_id, stage, blueprint_id, seed_id, alpha, accuracy_delta,
#: epochs_in_stage, params, grad_norm or None, counterfactual or None).
SeedValues = tuple[str, tpb.SeedStage, str, str, float, float, int, int, float | None,
                   float | None]


def build_seed(v: SeedValues) -> tpb.SeedTelemetry:
    st = tpb.SeedTelemetry(slot_id=v[0], stage=v[1], blueprint_id=v[2], seed_id=v[3],
                           alpha=v[4], accuracy_delta=v[5], epochs_in_stage=v[6], params=v[7])
    if v[8] is not None:
        st.grad_norm = v[8]
    if v[9] is not None:
        st.counterfactual = v[9]
    return st


class EpochCompleted(Captured):
    """values: (env_id, epoch, episode, batch, val_accuracy, val_loss, train_loss, reward,
    host_params, seeds: tuple of SeedValues)."""

    __slots__ = ()

    def build(self) -> tpb.TelemetryEvent:
        (env_id, epoch, episode, batch, acc, val_loss, train_loss, reward, host_params,
         seeds) = self.values
        return make_event(
            ET.EVENT_TYPE_EPOCH_COMPLETED, env_id=env_id, epoch=epoch, episode=episode,
            batch=batch,
            epoch_completed=tpb.EpochCompletedPayload(
                val_accuracy=acc, val_loss=val_loss, train_loss=train_loss, reward=reward,
                host_params=host_params, seeds=[build_seed(s) for s in seeds]))


# -- seed lifecycle -----------------------------------------------------------------------
#: LifecycleRecord.kind -> event type.
LIFECYCLE_TYPES: dict[str, int] = {
    "germinated": ET.EVENT_TYPE_SEED_GERMINATED,
    "stage_changed": ET.EVENT_TYPE_SEED_STAGE_CHANGED,
    "gate": ET.EVENT_TYPE_SEED_GATE_EVALUATED,
    "fossilized": ET.EVENT_TYPE_SEED_FOSSILIZED,
    "pruned": ET.EVENT_TYPE_SEED_PRUNED,
}


class Lifecycle(Captured):
    """values: (env_id, epoch, episode, batch, kind, slot_id, blueprint_id, seed_id,
    from_stage, to_stage, alpha, params, gate, passed, reason, improvement, epochs_total,
    counterfactual or None): a LifecycleRecord's fields after the envelope's."""

    __slots__ = ()

    def build(self) -> tpb.TelemetryEvent:
        (env_id, epoch, episode, batch, kind, slot_id, blueprint_id, seed_id, from_stage,
         to_stage, alpha, params, gate, passed, reason, improvement, epochs_total,
         counterfactual) = self.values
        env: dict[str, Any] = dict(env_id=env_id, epoch=epoch, episode=episode, batch=batch)
        if kind == "germinated":
            return make_event(ET.EVENT_TYPE_SEED_GERMINATED, **env,
                              seed_germinated=tpb.SeedGerminatedPayload(
                                  slot_id=slot_id, blueprint_id=blueprint_id,
                                  seed_id=seed_id, params=params))
        if kind == "stage_changed":
            return make_event(ET.EVENT_TYPE_SEED_STAGE_CHANGED, **env,
                              seed_stage_changed=tpb.SeedStageChangedPayload(
                                  slot_id=slot_id, from_stage=from_stage, to_stage=to_stage,
                                  blueprint_id=blueprint_id, alpha=alpha))
        if kind == "gate":
            return make_event(ET.EVENT_TYPE_SEED_GATE_EVALUATED, **env,
                              severity=SEV.SEVERITY_INFO if passed else SEV.SEVERITY_DEBUG,
                              seed_gate_evaluated=tpb.SeedGateEvaluatedPayload(
                                  slot_id=slot_id, gate=gate, passed=passed,
                                  target_stage=to_stage, reason=reason))
        if kind == "fossilized":
            return make_event(ET.EVENT_TYPE_SEED_FOSSILIZED, **env,
                              seed_fossilized=tpb.SeedFossilizedPayload(
                                  slot_id=slot_id, blueprint_id=blueprint_id,
                                  params_added=params, improvement=improvement,
                                  epochs_total=epochs_total, counterfactual=counterfactual))
        if kind == "pruned":
            return make_event(ET.EVENT_TYPE_SEED_PRUNED, **env, severity=SEV.SEVERITY_WARNING,
                              seed_pruned=tpb.SeedPrunedPayload(
                                  slot_id=slot_id, blueprint_id=blueprint_id, reason=reason,
                                  improvement=improvement, epochs_total=epochs_total,
                                  from_stage=from_stage, counterfactual=counterfactual))
        raise ValueError(f"unknown lifecycle record kind {kind!r}")


# -- ANALYTICS_SNAPSHOT (decision card) ---------------------------------------------------
def build_decision_card(*, env_id: int, action_row: list[int] | tuple[int, ...],
                        probs: list[list[float]], entropies: list[float],
                        masks: list[list[bool]], relevant: list[float], value: float,
                        reward: float | None, epoch: int) -> tpb.DecisionCard:
    """The controller's last choice for one env, head by head: every head's action, its
    probability and entropy, whether it mattered for the op and which of its actions the
    masks allowed. masked_actions counts the invalid actions of the heads that mattered."""
    op = OPS[action_row[0]]
    heads = []
    masked = 0
    for i, h in enumerate(HEADS):
        choice = tpb.HeadChoice(head=h.head, action=h.labels[action_row[i]],
                                probability=probs[i][action_row[i]], entropy=entropies[i])
        if relevant[i]:
            row = masks[i][:h.n_actions]
            choice.relevant, choice.valid_mask = True, valid_bits(row)
            masked += h.n_actions - sum(row)
        heads.append(choice)
    card = tpb.DecisionCard(
        env_id=env_id, op=op, value_estimate=value, epoch=epoch, masked_actions=masked,
        slot_id=SLOT_IDS[action_row[1]] if op != _WAIT else "",
        blueprint_id=BLUEPRINT_IDS[action_row[2]] if op == _GERMINATE else "",
        heads=heads,
    )
    if reward is not None:
        card.reward = reward
    return card


def build_analytics_snapshot(card: tpb.DecisionCard, *, episode: int, batch: int
                             ) -> tpb.TelemetryEvent:
    return make_event(ET.EVENT_TYPE_ANALYTICS_SNAPSHOT, env_id=card.env_id, epoch=card.epoch,
                      episode=episode, batch=batch,
                      analytics_snapshot=tpb.AnalyticsSnapshotPayload(decision=card))


class DecisionSnapshot(Captured):
    """values: (env_id, action_row, probs, entropies, masks, relevant, value, reward, epoch,
    episode, batch), rows as tuples (see build_decision_card)."""

    __slots__ = ()

    def build(self) -> tpb.TelemetryEvent:
        (env_id, action_row, probs, entropies, masks, relevant, value, reward, epoch,
         episode, batch) = self.values
        card = build_decision_card(env_id=env_id, action_row=action_row, probs=probs,
                                   entropies=entropies, masks=masks, relevant=relevant,
                                   value=value, reward=reward, epoch=epoch)
        return build_analytics_snapshot(card, episode=episode, batch=batch)
