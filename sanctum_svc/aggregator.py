"""Per-run aggregated state, built by applying telemetry events in order.

The state lives in generated messages (one schema, no mirror classes): a working
`SanctumSnapshot` that the handlers in `sanctum_svc.handlers` mutate, plus, for the event
types that dominate ingest (EPOCH_COMPLETED, ANALYTICS_SNAPSHOT, PPO_UPDATE_COMPLETED),
references to the latest payload messages that `snapshot(now)` copies into the snapshot it
returns, and bounded deques for the series. That keeps apply() at a few dict and attribute
operations per event; snapshot() runs at most tens of times/s per run.

apply() never reads the clock: the same events with the same receive times give the same
snapshot, which is what lets the server replay its store after a restart.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_common.derived import liveness_for_age
from sanctum_svc import history
from sanctum_svc.envtrack import EnvTrack
from sanctum_svc.handlers import HANDLERS
from sanctum_svc.handlers.common import RECENT_DECISIONS, event_time, set_time

#: Batches over which episodes/s is measured.
EPISODE_RATE_WINDOW = 5


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
        #: Envs, decisions, series and time-dependent fields are added by `snapshot`.
        self.state = spb.SanctumSnapshot(run_id=run_id)
        #: Policy groups in the order first seen (the working messages in state.tamiyo).
        self.groups: dict[str, spb.PolicyGroup] = {}
        self.envs: dict[tuple[str, int], EnvTrack] = {}
        #: Latest DecisionCard per group, and the most recent ones of the run (payload refs).
        self.last_decision: dict[str, tpb.DecisionCard] = {}
        self.decisions: deque[tpb.DecisionCard] = deque(maxlen=RECENT_DECISIONS)
        #: (receive time, episodes_completed) of recent BATCH_EPOCH_COMPLETED events.
        self.batch_marks: deque[tuple[float, int]] = deque(maxlen=EPISODE_RATE_WINDOW)
        #: Run- and group-level series, (metric, group_id) -> values, newest last.
        self.series: dict[tuple[str, str], deque[float]] = {}
        #: Latest PPOUpdatePayload per group (copied into the group's last_update).
        self.last_ppo: dict[str, tpb.PPOUpdatePayload] = {}
        #: Latest SYSTEM_VITALS payload (copied into snapshots whole).
        self.last_vitals: tpb.SystemVitalsPayload | None = None

    # -- applying events ---------------------------------------------------------------
    def apply(self, event: tpb.TelemetryEvent, received_at: float) -> None:
        """Apply one event received at `received_at` (unix seconds, server clock).

        Event types without a handler (a newer producer) only count as activity. The
        version moves even if a handler fails, so watchers never miss a partial change.
        """
        self.events_applied += 1
        self.last_event_time = received_at
        self.version += 1
        handler = HANDLERS.get(event.event_type)
        if handler is not None:
            handler(self, event, received_at)

    def apply_many(self, events: Iterable[tpb.TelemetryEvent], received_at: float
                   ) -> list[tuple[tpb.TelemetryEvent, Exception]]:
        """Apply events received together, in order: the same as apply() on each, with the
        bookkeeping done once. A handler that raises does not stop the others; the
        (event, error) pairs are returned for the caller to report."""
        failures: list[tuple[tpb.TelemetryEvent, Exception]] = []
        handlers = HANDLERS
        self.last_event_time = received_at
        n = 0
        for event in events:
            n += 1
            handler = handlers.get(event.event_type)
            if handler is not None:
                try:
                    handler(self, event, received_at)
                except Exception as exc:  # noqa: BLE001 - reported by the caller
                    failures.append((event, exc))
        self.events_applied += n
        self.version += n
        return failures

    def touch(self) -> None:
        """Mark a change made outside apply() (delivery stats) so watchers see it."""
        self.version += 1

    # -- accessors for handlers -----------------------------------------------------------
    def group(self, group_id: str) -> spb.PolicyGroup:
        """The working PolicyGroup of `group_id`; the first group seen is the primary one."""
        group = self.groups.get(group_id)
        if group is None:
            group = self.groups[group_id] = self.state.tamiyo.groups.add(group_id=group_id)
        return group

    def env(self, group_id: str, env_id: int) -> EnvTrack:
        """The env (group, env_id), created on first use."""
        key = (group_id, env_id)
        track = self.envs.get(key)
        if track is None:
            track = self.envs[key] = EnvTrack(group_id, env_id, self.history_len)
        return track

    def log(self, event: tpb.TelemetryEvent, received_at: float, message: str) -> spb.EventLogEntry:
        """Append a human-readable entry to the bounded event log."""
        entry = history.push_message(self.state.event_log.entries, self.event_log_len)
        event_time(entry.timestamp, event, received_at)
        entry.event_type = event.event_type
        entry.severity = event.severity
        if event.HasField("env_id"):
            entry.env_id = event.env_id
        entry.group_id = event.group_id
        entry.message = message
        return entry

    def push_series(self, metric: str, group_id: str, value: float) -> None:
        """Append to the bounded series `metric` of policy group `group_id`."""
        key = (metric, group_id)
        values = self.series.get(key)
        if values is None:
            values = self.series[key] = deque(maxlen=self.history_len)
        values.append(value)

    # -- reading ------------------------------------------------------------------------
    def snapshot(self, now: float) -> spb.SanctumSnapshot:
        """A fresh SanctumSnapshot; liveness and ages are computed from `now`."""
        snap = spb.SanctumSnapshot()
        snap.CopyFrom(self.state)
        snap.version = self.version
        set_time(snap.generated_at, now)
        snap.delivery.CopyFrom(self.delivery)
        if self.last_vitals is not None:
            snap.vitals.CopyFrom(self.last_vitals)
        history.trim(snap.event_log.entries, self.event_log_len)
        for group in snap.tamiyo.groups:
            update = self.last_ppo.get(group.group_id)
            if update is not None:
                group.last_update.CopyFrom(update)
            decision = self.last_decision.get(group.group_id)
            if decision is not None:
                group.last_decision.CopyFrom(decision)
        snap.decisions.recent.extend(self.decisions)
        series = snap.histories
        for (metric, group_id), values in self.series.items():
            if values:
                series.series.add(metric=metric, group_id=group_id).values.extend(values)
        self._fill_envs(snap)
        run = snap.run
        if self.last_event_time is not None:
            age = max(0.0, now - self.last_event_time)
            run.liveness = liveness_for_age(age)
            run.seconds_since_last_event = age
            set_time(run.last_event_time, self.last_event_time)
        return snap

    def _fill_envs(self, snap: spb.SanctumSnapshot) -> None:
        """Envs in (group, env id) order, their series, and the mean of their last rewards."""
        envs = snap.envs
        rewards = []
        for key in sorted(self.envs):
            track = self.envs[key]
            track.fill(envs.envs.add())
            track.fill_series(snap.histories)
            if track.last_epoch is not None:
                rewards.append(track.last_epoch.epoch_completed.reward)
        if rewards:
            envs.mean_reward = sum(rewards) / len(rewards)

    def summary(self, now: float) -> spb.RunSummary:
        """A short description of the run for ListRuns."""
        run = self.state.run
        out = spb.RunSummary(
            run_id=self.run_id,
            task=run.config.task,
            episodes_completed=run.last_batch.episodes_completed,
            total_episodes=run.last_batch.total_episodes or run.config.n_episodes,
            n_envs=run.config.n_envs,
            group_ids=list(self.groups),
            status=run.status,
            events_applied=self.events_applied,
        )
        if run.status in (spb.RUN_STATUS_STOPPED, spb.RUN_STATUS_FAILED):
            out.status_reason = run.completion.status
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
