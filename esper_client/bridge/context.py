"""What a mapping function sees: the original record, typed reads of its payload, and the
state of the run it belongs to (declared shape, what each slot holds)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_client.bridge.values import U32_MAX, Values
from esper_common.events import make_event

#: The original's name of the default policy group (ours is "").
DEFAULT_GROUP = "default"
#: Slots remembered per run when the run declared no shape (a file cut before its start).
MAX_REMEMBERED_SLOTS = 65_536
#: Longest group id the contract takes (characters).
MAX_GROUP_CHARS = 256
#: The original writes accuracies as percentages; the contract carries fractions.
PERCENT = 0.01

_SEVERITY = {
    "debug": tpb.SEVERITY_DEBUG, "info": tpb.SEVERITY_INFO, "warning": tpb.SEVERITY_WARNING,
    "warn": tpb.SEVERITY_WARNING, "error": tpb.SEVERITY_ERROR,
    "critical": tpb.SEVERITY_CRITICAL,
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_SECOND = timedelta(seconds=1)


class Skip(Exception):
    """The record cannot be mapped; the message says why (reported per event type)."""


@dataclass
class SlotMemo:
    """What the run last said about one slot of one env: lifecycle events of the original
    name the blueprint and stage only sometimes, the contract always."""

    blueprint_id: str = ""
    stage: tpb.SeedStage = tpb.SEED_STAGE_UNSPECIFIED
    seed_id: str = ""
    params: int = 0


@dataclass
class RunState:
    """One run of the original, as the mapping tracks it."""

    run_id: str
    #: Policy groups whose TRAINING_STARTED was seen (A/B runs start each group).
    started: set[str] = field(default_factory=set)
    n_envs: int = 0
    slot_ids: frozenset[str] = frozenset()
    host_params: int = 0
    slots: dict[tuple[str, int, str], SlotMemo] = field(default_factory=dict)

    def slot(self, group: str, env_id: int, slot_id: str) -> SlotMemo:
        key = (group, env_id, slot_id)
        memo = self.slots.get(key)
        if memo is None:
            if len(self.slots) >= MAX_REMEMBERED_SLOTS:
                self.slots.clear()
            memo = self.slots[key] = SlotMemo()
        return memo

    def check_slot(self, slot_id: str) -> None:
        if self.slot_ids and slot_id not in self.slot_ids:
            raise Skip(f"slot {slot_id[:40]!r} is not one the run declared")


@dataclass
class Ctx:
    """One record being mapped: envelope, payload reads (`v`) and its run."""

    record: dict[str, Any]
    event_type: str
    v: Values
    run: RunState

    @property
    def data(self) -> dict[str, Any]:
        return self.v.data

    @property
    def group(self) -> str:
        """The policy group in the contract's terms ("" = default)."""
        group = self.record.get("group_id")
        if not isinstance(group, str) or group == DEFAULT_GROUP:
            return ""
        if len(group) > MAX_GROUP_CHARS:
            self.v.note_clamped("group_id")
            return group[:MAX_GROUP_CHARS]
        return group

    def env_id(self) -> int:
        """The env the event is about (data.env_id); Skip when absent or impossible."""
        env = self.data.get("env_id")
        if not isinstance(env, int) or isinstance(env, bool):
            raise Skip("no env_id")
        if env < 0 or env > U32_MAX:
            raise Skip(f"env_id {env} out of range")
        if self.run.n_envs and env >= self.run.n_envs:
            raise Skip(f"env_id {env} >= n_envs {self.run.n_envs} declared by the run")
        return env

    def slot_id(self) -> str:
        """data.slot_id (else the envelope's), checked against the declared slots."""
        slot = self.data.get("slot_id") or self.record.get("slot_id")
        if not isinstance(slot, str) or not slot:
            raise Skip("no slot_id")
        self.run.check_slot(slot)
        return self.v.clip("slot_id", slot)

    def event(self, event_type: tpb.EventType, *, env_id: int | None = None,
              epoch: int | None = None, episode: int | None = None, batch: int | None = None,
              **payload: object) -> tpb.TelemetryEvent:
        """The envelope of the mapped event: time, severity and group from the record."""
        ev = make_event(event_type, severity=severity(self.record.get("severity")),
                        env_id=env_id, epoch=epoch, episode=episode, batch=batch,
                        group_id=self.group, **payload)
        stamp(ev, self.record.get("timestamp"))
        return ev


Mapping = Callable[[Ctx], tpb.TelemetryEvent]


def severity(value: object) -> tpb.Severity:
    """The original's severity word as a Severity (INFO when unknown)."""
    if isinstance(value, str):
        return _SEVERITY.get(value.lower(), tpb.SEVERITY_INFO)
    return tpb.SEVERITY_INFO


def stamp(ev: tpb.TelemetryEvent, value: object) -> None:
    """Set the event's timestamp from an ISO 8601 string (naive = UTC); left unset (sanctum
    then uses the receive time) when missing or unreadable."""
    if not isinstance(value, str) or not value:
        return
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = when - _EPOCH
    ev.timestamp.seconds = delta // _ONE_SECOND
    ev.timestamp.nanos = when.microsecond * 1000


def stage(value: object) -> tpb.SeedStage:
    """A stage name of the original ("BLENDING") as a SeedStage; UNSPECIFIED when unknown."""
    if isinstance(value, str):
        try:
            return cast(tpb.SeedStage, tpb.SeedStage.Value("SEED_STAGE_" + value.upper()))
        except ValueError:
            return tpb.SEED_STAGE_UNSPECIFIED
    return tpb.SEED_STAGE_UNSPECIFIED
