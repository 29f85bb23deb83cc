"""Per-run aggregated state, built by applying telemetry events in order.

The state lives directly in a working `SanctumSnapshot` message that the handlers in
`sanctum_svc.handlers` mutate (one schema, no mirror classes). `snapshot(now)` copies it and
fills the time-dependent fields. `apply` never reads the clock: the same events with the same
receive times give the same snapshot, which is what lets the server replay its store.
"""

from __future__ import annotations

from collections import deque

from esper.sanctum.v1 import sanctum_pb2 as spb
from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_common.derived import liveness_for_age
from sanctum_svc import history
from sanctum_svc.handlers import HANDLERS
from sanctum_svc.handlers.common import RECENT_DECISIONS, event_time, set_compile, set_time

#: Batches over which episodes/s is measured.
EPISODE_RATE_WINDOW = 5

_HISTORY_FIELDS = tuple(f.name for f in spb.Histories.DESCRIPTOR.fields)


class RunAggregator:
    """Aggregated state of one run. Events arrive validated, deduplicated and in per-producer
    seq order (the ingest layer guarantees it)."""

    def __init__(self, run_id: str, *, history_len: int = 120, event_log_len: int = 200) -> None:
        self.run_id = run_id
        self.version = 0
        self.config: tpb.RunConfig | None = None
        self.delivery = spb.DeliveryStats()
        self.last_event_time: float | None = None
        self.events_applied = 0
        self.history_len = history_len
        self.event_log_len = event_log_len
        #: The working snapshot the handlers mutate; never handed out (see `snapshot`).
        self.state = spb.SanctumSnapshot(run_id=run_id)
        self._groups: dict[str, spb.TamiyoState] = {}
        self._envs: dict[tuple[str, int], spb.EnvState] = {}
        #: (receive time, episodes_completed) of recent BATCH_EPOCH_COMPLETED events.
        self.batch_marks: deque[tuple[float, int]] = deque(maxlen=EPISODE_RATE_WINDOW)

    # -- applying events ---------------------------------------------------------------
    def apply(self, event: tpb.TelemetryEvent, received_at: float) -> None:
        """Apply one event received at `received_at` (unix seconds, server clock).

        Event types without a handler (a newer producer) only count as activity.
        """
        handler = HANDLERS.get(event.event_type)
        if handler is not None:
            handler(self, event, received_at)
        self.events_applied += 1
        self.last_event_time = received_at
        self.version += 1

    def touch(self) -> None:
        """Mark a change made outside apply() (delivery stats) so watchers see it."""
        self.version += 1

    # -- accessors for handlers -----------------------------------------------------------
    def group(self, group_id: str) -> spb.TamiyoState:
        """The TamiyoState of a policy group; the first group seen is the primary one."""
        tamiyo = self._groups.get(group_id)
        if tamiyo is None:
            tamiyo = self.state.tamiyo if not self._groups else self.state.other_groups.add()
            tamiyo.group_id = group_id
            if self.config is not None:
                set_compile(tamiyo.infrastructure, self.config)
            self._groups[group_id] = tamiyo
        return tamiyo

    def groups(self) -> list[spb.TamiyoState]:
        """All policy groups seen so far, primary first."""
        return list(self._groups.values())

    def is_primary(self, group_id: str) -> bool:
        """Whether `group_id` is the primary group (the first seen, or none seen yet)."""
        return not self._groups or self.state.tamiyo.group_id == group_id

    def env(self, group_id: str, env_id: int) -> spb.EnvState:
        """The EnvState of (group, env), created on first use; envs stay sorted."""
        key = (group_id, env_id)
        env = self._envs.get(key)
        if env is None:
            envs = self.state.envs
            if envs and (envs[-1].group_id, envs[-1].env_id) > key:
                self._insert_sorted(key)
            else:
                envs.add(env_id=env_id, group_id=group_id)
                self._envs[key] = envs[-1]
            env = self._envs[key]
        return env

    def _insert_sorted(self, key: tuple[str, int]) -> None:
        copies = [spb.EnvState(env_id=key[1], group_id=key[0])]
        for env in self.state.envs:
            copy = spb.EnvState()
            copy.CopyFrom(env)
            copies.append(copy)
        copies.sort(key=lambda e: (e.group_id, e.env_id))
        del self.state.envs[:]
        self.state.envs.extend(copies)
        self._envs = {(e.group_id, e.env_id): e for e in self.state.envs}

    def envs(self) -> list[spb.EnvState]:
        """All envs of the run (live references into the working state)."""
        return list(self._envs.values())

    def log(self, event: tpb.TelemetryEvent, received_at: float, message: str) -> spb.EventLogEntry:
        """Append a human-readable entry to the bounded event log."""
        entry = history.push_message(self.state.event_log, self.event_log_len)
        event_time(entry.timestamp, event, received_at)
        entry.event_type = event.event_type
        entry.severity = event.severity
        if event.HasField("env_id"):
            entry.env_id = event.env_id
        entry.group_id = event.group_id
        entry.message = message
        return entry

    def push_history(self, name: str, value: float) -> None:
        """Append to one bounded run-level history (a Histories field)."""
        history.push(getattr(self.state.histories, name), value, self.history_len)

    # -- reading ------------------------------------------------------------------------
    def snapshot(self, now: float) -> spb.SanctumSnapshot:
        """A fresh SanctumSnapshot; liveness and ages are computed from `now`."""
        snap = spb.SanctumSnapshot()
        snap.CopyFrom(self.state)
        snap.version = self.version
        set_time(snap.generated_at, now)
        snap.delivery.CopyFrom(self.delivery)
        limit = self.history_len
        for name in _HISTORY_FIELDS:
            history.trim(getattr(snap.histories, name), limit)
        rewards = []
        for env in snap.envs:
            history.trim(env.accuracy_history, limit)
            history.trim(env.reward_history, limit)
            rewards.append(env.reward)
        if rewards:
            snap.aggregate_mean_reward = sum(rewards) / len(rewards)
        history.trim(snap.event_log, self.event_log_len)
        history.trim(snap.recent_decisions, RECENT_DECISIONS)
        if self.last_event_time is not None:
            age = max(0.0, now - self.last_event_time)
            snap.liveness = liveness_for_age(age)
            snap.seconds_since_last_event = age
            set_time(snap.last_event_time, self.last_event_time)
        return snap

    def summary(self, now: float) -> spb.RunSummary:
        """A short description of the run for ListRuns."""
        state = self.state
        out = spb.RunSummary(
            run_id=self.run_id,
            task=state.task_name,
            episodes_completed=state.episodes_completed,
            total_episodes=state.batch_total_episodes or state.run_config.n_episodes,
            n_envs=state.run_config.n_envs,
            group_ids=list(self._groups),
            status=state.status,
            events_applied=self.events_applied,
        )
        if self.last_event_time is not None:
            out.liveness = liveness_for_age(max(0.0, now - self.last_event_time))
            set_time(out.last_event_time, self.last_event_time)
        return out


class Aggregator:
    """All runs, each with its own RunAggregator."""

    def __init__(self, *, history_len: int = 120, event_log_len: int = 200) -> None:
        self._runs: dict[str, RunAggregator] = {}
        self._history_len = history_len
        self._event_log_len = event_log_len

    def get_or_create(self, run_id: str) -> RunAggregator:
        run = self._runs.get(run_id)
        if run is None:
            run = RunAggregator(
                run_id, history_len=self._history_len, event_log_len=self._event_log_len
            )
            self._runs[run_id] = run
        return run

    def get(self, run_id: str) -> RunAggregator | None:
        return self._runs.get(run_id)

    def runs(self) -> list[RunAggregator]:
        return list(self._runs.values())

    def latest_run_id(self) -> str | None:
        """The run with the most recent event (ties: the one created last)."""
        best: RunAggregator | None = None
        for run in self._runs.values():
            if best is None or (run.last_event_time or float("-inf")) >= (
                best.last_event_time or float("-inf")
            ):
                best = run
        return best.run_id if best is not None else None
