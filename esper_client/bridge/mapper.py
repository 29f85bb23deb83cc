"""The bridge's one mapping: records of the original system in, contract events out.

    mapper = Mapper()
    for record in records:               # dicts shaped like the original's JSONL lines
        for run_id, event in mapper.feed(record):
            ...                          # events in order, per run
    for run_id, event in mapper.close():
        ...
    mapper.report                        # what was mapped, skipped, left out

Runs: a TRAINING_STARTED starts a new run unless it starts a further policy group of the
current one (an A/B run trains group A, then B, each announcing itself); that one is
reported, not sent (sanctum keeps a run's first declaration). Run ids are
derived from the original's records (its episode id and the first record's event id), so
the same run read twice, from a file or live, gets the same id.

Rewards: the original writes an env's epoch (EPOCH_COMPLETED) and the reward of the
decision taken on it (ANALYTICS_SNAPSHOT last_action) as separate records a few lines
apart; the contract carries the reward in the epoch. Events are released in order, but an
epoch waits (with everything after it) until its decision arrives, for at most
WINDOW events; unpaired epochs are reported.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter, deque
from typing import Any

from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_client.bridge import decision, lifecycle, ppo, training  # noqa: F401 (registers)
from esper_client.bridge.context import DEFAULT_GROUP, Ctx, RunState, Skip
from esper_client.bridge.registry import MAPPINGS, label
from esper_client.bridge.report import MapReport
from esper_client.bridge.values import Values

#: Most events held back while an epoch waits for its decision's reward.
WINDOW = 4096
#: Run ids remembered to tell a repeated run (same records twice) from a new one.
MAX_SEEN_RUNS = 100_000
_SLUG = re.compile(r"[^A-Za-z0-9._-]+")
_EPOCH = tpb.EVENT_TYPE_EPOCH_COMPLETED
_DECISION = tpb.EVENT_TYPE_ANALYTICS_SNAPSHOT

Out = list[tuple[str, tpb.TelemetryEvent]]


def run_id_for(record: dict[str, Any], prefix: str = "original") -> str:
    """A stable run id: the original's episode id (if any) and the start of the record's
    event id (or a hash of the record when it has none)."""
    data = record.get("data") if isinstance(record.get("data"), dict) else {}
    name = data.get("episode_id") if isinstance(data, dict) else None
    slug = _SLUG.sub("-", name).strip("-")[:64] if isinstance(name, str) else ""
    event_id = record.get("event_id")
    if isinstance(event_id, str) and event_id.strip():
        tag = _SLUG.sub("", event_id)[:8] or hashlib.sha1(event_id.encode()).hexdigest()[:8]
    else:
        tag = hashlib.sha1(repr(sorted(record.items())).encode()).hexdigest()[:8]
    return f"{slug or prefix}-{tag}"


class Mapper:
    """Stateful mapping of one stream of the original's records (see module docstring).

    `run_id`: use this id for every run instead of deriving one (a live bridge whose user
    named the run). Memory is bounded: the window, the slots of the current run, the report.
    """

    def __init__(self, run_id: str | None = None, window: int = WINDOW) -> None:
        self.report = MapReport()
        self._values = Values(self.report.omitted, self.report.clamped)
        self._fixed_run_id = run_id
        self._seen: dict[str, int] = {}
        self._run: RunState | None = None
        self._window = window
        self._pending: deque[tuple[str, tpb.TelemetryEvent]] = deque()
        #: (run, group, env) -> its epoch event waiting for a reward
        self._waiting: dict[tuple[str, str, int], tpb.TelemetryEvent] = {}

    @property
    def run_id(self) -> str | None:
        """The current run's id (None before the first record)."""
        return self._run.run_id if self._run is not None else None

    def feed(self, record: Any) -> Out:
        """Map one record; returns the events now ready, in order."""
        self.report.records += 1
        if not isinstance(record, dict):
            self.report.skip("(not an object)", "not an event record")
            return []
        event_type = record.get("event_type")
        data = record.get("data")
        if not isinstance(event_type, str) or not event_type:
            self.report.skip("(no event_type)", "not an event record")
            return []
        if data is None:
            data = {}
        if not isinstance(data, dict):
            self.report.skip(event_type, "data is not an object")
            return []
        name = label(event_type, data)
        mapping = MAPPINGS.get(name)
        if mapping is None:
            self.report.skip(name, "no mapping")
            return []
        out: Out = []
        if event_type == "TRAINING_STARTED":
            group = self._joins(record)
            if group:  # sanctum keeps a run's first declaration: B's would be refused
                self.report.skip(name, "starts a further policy group of its run "
                                       "(declared once, by its first group)")
                return []
            out += self._start(record)
        elif self._run is None:
            self._new_run(record)
        run = self._run
        assert run is not None
        try:
            event = mapping(Ctx(record, event_type, self._values.bind(event_type, data), run))
        except Skip as why:
            self.report.skip(name, str(why))
            return out
        self.report.map(name)
        return out + self._hold(run.run_id, event)

    def close(self) -> Out:
        """Release every held event (end of input)."""
        return self._release_all()

    # -- runs --------------------------------------------------------------------------
    def _joins(self, record: dict[str, Any]) -> str:
        """The group a TRAINING_STARTED adds to the current run ("" when it starts a new
        run): an A/B run starts each named group in turn; a group that already started, or
        the default group, starts a new run."""
        group = _group(record)
        run = self._run
        if (run is not None and run.started and group not in run.started
                and DEFAULT_GROUP not in run.started and group != DEFAULT_GROUP):
            run.started.add(group)
            return group
        return ""

    def _start(self, record: dict[str, Any]) -> Out:
        out = self._release_all()
        self._new_run(record)
        assert self._run is not None
        self._run.started.add(_group(record))
        return out

    def _new_run(self, record: dict[str, Any]) -> None:
        run_id = self._fixed_run_id or run_id_for(record)
        if self._fixed_run_id is None:
            seen = self._seen.get(run_id, 0)
            if len(self._seen) >= MAX_SEEN_RUNS:
                self._seen.clear()
            self._seen[run_id] = seen + 1
            if seen:  # the same run again in one stream (a file appended to itself)
                run_id = f"{run_id}-{seen + 1}"
        self._run = RunState(run_id)
        self.report.new_run(run_id)

    # -- reward pairing ----------------------------------------------------------------
    def _hold(self, run_id: str, event: tpb.TelemetryEvent) -> Out:
        etype = event.event_type
        if etype == _EPOCH:
            key = (run_id, event.group_id, event.env_id)
            if self._waiting.pop(key, None) is not None:
                self.report.unpaired_epochs += 1
            self._waiting[key] = event
        elif etype == _DECISION:
            card = event.analytics_snapshot.decision
            key = (run_id, event.group_id, card.env_id)
            epoch = self._waiting.get(key)
            if epoch is not None and epoch.epoch == card.epoch:
                del self._waiting[key]
                if card.HasField("reward"):
                    epoch.epoch_completed.reward = card.reward
        elif etype == tpb.EVENT_TYPE_BATCH_EPOCH_COMPLETED:
            out = self._release_all()
            return [*out, (run_id, event)]
        self._pending.append((run_id, event))
        return self._release()

    def _release(self) -> Out:
        out: Out = []
        pending, waiting = self._pending, self._waiting
        while pending:
            run_id, event = pending[0]
            if event.event_type == _EPOCH and len(pending) <= self._window:
                key = (run_id, event.group_id, event.env_id)
                if waiting.get(key) is event:
                    break
            elif event.event_type == _EPOCH:  # waited too long: send it without a reward
                key = (run_id, event.group_id, event.env_id)
                if waiting.get(key) is event:
                    del waiting[key]
                    self.report.unpaired_epochs += 1
            out.append(pending.popleft())
        return out

    def _release_all(self) -> Out:
        self.report.unpaired_epochs += len(self._waiting)
        self._waiting.clear()
        out = list(self._pending)
        self._pending.clear()
        return out


def _group(record: dict[str, Any]) -> str:
    group = record.get("group_id")
    return group if isinstance(group, str) and group else DEFAULT_GROUP


def skipped_by_type(report: MapReport) -> Counter[str]:
    """Skipped records per event type label (reasons merged)."""
    out: Counter[str] = Counter()
    for key, n in report.skipped.items():
        out[key.split(": ", 1)[0]] += n
    return out
