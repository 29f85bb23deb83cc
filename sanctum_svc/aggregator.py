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

import itertools
from collections import deque
from collections.abc import Callable, Iterable

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_common.derived import FINISHED, liveness_for_age
from sanctum_svc import budget, history
from sanctum_svc.config import SNAPSHOT_BUDGET_BYTES, SUMMARY_GROUP_IDS
from sanctum_svc.envtrack import EnvTrack
from sanctum_svc.handlers import HANDLERS
from sanctum_svc.handlers.common import RECENT_DECISIONS, event_time, set_time
from sanctum_svc.health.evaluate import EdgeListener, RunHealth
from sanctum_svc.metric_tracks import MetricTracks

#: Tags listed per run in a RunSummary.
SUMMARY_TAGS = 16
#: Batches over which episodes/s is measured.
EPISODE_RATE_WINDOW = 5
#: While assembling envs, one in this many is measured to estimate their total size.
_ENV_SAMPLE = 8


class RunAggregator:
    """Aggregated state of one run. Events arrive validated, deduplicated and in per-producer
    seq order (the ingest layer guarantees it)."""

    def __init__(self, run_id: str, *, history_len: int = 120, event_log_len: int = 200,
                 snapshot_budget: int = SNAPSHOT_BUDGET_BYTES,
                 on_event: Callable[[RunAggregator], None] | None = None,
                 on_finding: EdgeListener | None = None) -> None:
        self.run_id = run_id
        #: Health findings, evaluated once per applied PPO update (sanctum_svc.health).
        self.health = RunHealth(run_id, on_finding)
        self.snapshot_budget = snapshot_budget
        #: Told after events moved last_event_time (the owner tracks the latest run).
        self.on_event = on_event
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
        #: sorted(self.envs), kept until an env is added (envs are never removed).
        self._env_order: list[tuple[str, int]] | None = None
        #: Latest DecisionCard per group, and the most recent ones of the run (payload refs).
        self.last_decision: dict[str, tpb.DecisionCard] = {}
        self.decisions: deque[tpb.DecisionCard] = deque(maxlen=RECENT_DECISIONS)
        #: id(card) -> (card, serialized size), see _card_fits.
        self._card_sizes: dict[int, tuple[tpb.DecisionCard, int]] = {}
        #: (receive time, episodes_completed) of recent BATCH_EPOCH_COMPLETED events.
        self.batch_marks: deque[tuple[float, int]] = deque(maxlen=EPISODE_RATE_WINDOW)
        #: Run- and group-level series, (metric, group_id) -> values, newest last.
        self.series: dict[tuple[str, str], deque[float]] = {}
        #: Latest PPOUpdatePayload per group (copied into the group's last_update).
        self.last_ppo: dict[str, tpb.PPOUpdatePayload] = {}
        #: Latest SYSTEM_VITALS payload (copied into snapshots whole).
        self.last_vitals: tpb.SystemVitalsPayload | None = None
        #: The producer's own scalars (METRICS events), bounded per run.
        self.metrics = MetricTracks(history_len)

    # -- applying events ---------------------------------------------------------------
    def apply(self, event: tpb.TelemetryEvent, received_at: float) -> None:
        """Apply one event received at `received_at` (unix seconds, server clock).

        Event types without a handler (a newer producer) only count as activity. The
        version moves even if a handler fails, so watchers never miss a partial change.
        """
        self.events_applied += 1
        self.last_event_time = received_at
        self.version += 1
        if self.on_event is not None:
            self.on_event(self)
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
        if self.on_event is not None:
            self.on_event(self)
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
            self._env_order = None
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
        """A fresh SanctumSnapshot, within the snapshot budget (sanctum_svc.budget); liveness
        and ages are computed from `now`."""
        snap = spb.SanctumSnapshot()
        snap.CopyFrom(self.state)
        snap.version = self.version
        set_time(snap.generated_at, now)
        snap.delivery.CopyFrom(self.delivery)
        if self.last_vitals is not None:
            snap.vitals.CopyFrom(self.last_vitals)
        history.trim(snap.event_log.entries, self.event_log_len)
        # A card over the budget's element share would be left out by budget.fit anyway:
        # it is never copied in (a 4 MB card costs ~15 ms to copy and measure).
        fits = self._card_fits
        omitted: dict[str, int] = {}
        for group in snap.tamiyo.groups:
            update = self.last_ppo.get(group.group_id)
            if update is not None:
                group.last_update.CopyFrom(update)
            decision = self.last_decision.get(group.group_id)
            if decision is not None:
                if fits(decision):
                    group.last_decision.CopyFrom(decision)
                else:
                    omitted["tamiyo.groups.last_decision"] = (
                        omitted.get("tamiyo.groups.last_decision", 0) + 1)
        # Each card once: a group's last decision is in its PolicyGroup, not repeated here.
        last = self.last_decision
        recent = [d for d in self.decisions if last.get(d.group_id) is not d]
        kept = [d for d in recent if fits(d)]
        if len(kept) < len(recent):
            omitted["decisions.recent"] = len(recent) - len(kept)
        snap.decisions.recent.extend(kept)
        series = snap.histories
        for (metric, group_id), values in self.series.items():
            if values:
                series.series.add(metric=metric, group_id=group_id).values.extend(values)
        self.metrics.section(snap)
        unbuilt = self._fill_envs(snap, omitted)
        run = snap.run
        if self.last_event_time is not None:
            age = max(0.0, now - self.last_event_time)
            run.liveness = liveness_for_age(age)
            run.seconds_since_last_event = age
            set_time(run.last_event_time, self.last_event_time)
        self.check_stall(now)
        if self.health.evaluated or self.health.stall.level:
            self.health.section(snap.health)
        budget.fit(snap, self.snapshot_budget, omitted, unbuilt)
        return snap

    def check_stall(self, now: float) -> None:
        """Evaluate the time-based `stall` rule at `now` (snapshots and the alert task)."""
        self.health.check_stall(now, self.last_event_time, self.state.run.status in FINISHED)

    def _card_fits(self, card: tpb.DecisionCard) -> bool:
        """Whether a decision card is within the budget's share for one element. Sizes are
        remembered per card (cards are never changed once applied)."""
        limit = self.snapshot_budget // budget.ELEMENT_SHARE
        known = self._card_sizes.get(id(card))
        if known is None or known[0] is not card:
            if len(self._card_sizes) > 4 * RECENT_DECISIONS:  # forget cards no longer held
                held = {id(c) for c in (*self.decisions, *self.last_decision.values())}
                self._card_sizes = {k: v for k, v in self._card_sizes.items() if k in held}
            # Its strings' lengths bound its size from below: a giant card is known as such
            # without encoding it (ByteSize encodes: ~4 ms per MB).
            floor = sum(len(h.action) for h in card.heads) + len(card.slot_id)
            size = floor if floor > limit else card.ByteSize()
            known = self._card_sizes[id(card)] = (card, size)
        return known[1] <= limit

    def _fill_envs(self, snap: spb.SanctumSnapshot, omitted: dict[str, int]) -> int:
        """Add the envs in (group, env id) order with their series, and the mean of their
        last rewards. Envs past the snapshot budget are not assembled at all (a run may hold
        very many): their count goes into `omitted`, their estimated size is returned."""
        if self._env_order is None:
            self._env_order = sorted(self.envs)
        envs = self.envs
        tracks = [envs[key] for key in self._env_order]
        rewards = [t.last_epoch.epoch_completed.reward for t in tracks if t.last_epoch is not None]
        if rewards:
            snap.envs.mean_reward = sum(rewards) / len(rewards)
        out, series = snap.envs.envs, snap.histories
        size = 0
        for n, track in enumerate(tracks):
            if size > self.snapshot_budget:
                rest = len(tracks) - n
                omitted["envs.envs"] = rest
                return rest * (size // n)
            env = out.add()
            track.fill(env)
            track.fill_series(series)
            if n % _ENV_SAMPLE == 0:  # an estimate is enough here: fit() enforces the budget
                size += (env.ByteSize() + 4) * _ENV_SAMPLE
        return 0

    def summary(self, now: float) -> spb.RunSummary:
        """A short description of the run for ListRuns."""
        run = self.state.run
        out = spb.RunSummary(
            run_id=self.run_id,
            task=run.config.task,
            episodes_completed=run.last_batch.episodes_completed,
            total_episodes=run.last_batch.total_episodes or run.config.n_episodes,
            n_envs=run.config.n_envs,
            group_ids=list(itertools.islice(self.groups, SUMMARY_GROUP_IDS)),
            group_count=len(self.groups),
            status=run.status,
            events_applied=self.events_applied,
        )
        if run.status in (spb.RUN_STATUS_STOPPED, spb.RUN_STATUS_FAILED):
            out.status_reason = run.completion.status
        if run.HasField("last_batch"):
            out.rolling_accuracy = run.last_batch.rolling_accuracy
            out.avg_reward = run.last_batch.avg_reward
        if run.HasField("started_at"):
            out.started_at.CopyFrom(run.started_at)
        out.tags.extend(run.config.tags[:SUMMARY_TAGS])
        if self.last_event_time is not None:
            out.liveness = liveness_for_age(max(0.0, now - self.last_event_time))
            set_time(out.last_event_time, self.last_event_time)
        return out


class Aggregator:
    """All runs, each with its own RunAggregator, and which one is the latest.

    The latest run (most recent event; ties: the one created last) is what "latest run"
    viewers watch, asked on every wake-up of every such subscriber: it is kept up to date
    as events arrive instead of scanning every run (a server may hold tens of thousands).
    """

    def __init__(self, *, history_len: int = 120, event_log_len: int = 200,
                 snapshot_budget: int = SNAPSHOT_BUDGET_BYTES,
                 on_finding: EdgeListener | None = None) -> None:
        #: Told of every health finding's rising and falling edge (the alert webhook).
        self.on_finding = on_finding
        self._runs: dict[str, RunAggregator] = {}
        #: Creation order of each run (the tie-break of latest_run_id).
        self._created: dict[str, int] = {}
        self._next_created = 0
        self._history_len = history_len
        self._event_log_len = event_log_len
        self._snapshot_budget = snapshot_budget
        self._latest: RunAggregator | None = None
        #: The latest run's key when it was chosen; None = choose again (scan).
        self._latest_key: tuple[float, int] | None = None

    def get_or_create(self, run_id: str) -> RunAggregator:
        run = self._runs.get(run_id)
        if run is None:
            run = RunAggregator(
                run_id, history_len=self._history_len, event_log_len=self._event_log_len,
                snapshot_budget=self._snapshot_budget, on_event=self._on_event,
                on_finding=self._finding)
            self._created[run_id] = self._next_created
            self._next_created += 1
            self._runs[run_id] = run
            self._on_event(run)
        return run

    def _finding(self, run_id: str, finding: spb.HealthFinding, rising: bool) -> None:
        """Pass a finding's edge to `on_finding` (looked up now: it is set after replay)."""
        if self.on_finding is not None:
            self.on_finding(run_id, finding, rising)

    def get(self, run_id: str) -> RunAggregator | None:
        return self._runs.get(run_id)

    def runs(self) -> list[RunAggregator]:
        return list(self._runs.values())

    def __len__(self) -> int:
        return len(self._runs)

    @property
    def snapshot_budget(self) -> int:
        return self._snapshot_budget

    def remove(self, run_id: str) -> bool:
        """Forget a run (deleted or retired); whether it was held."""
        run = self._runs.pop(run_id, None)
        if run is None:
            return False
        del self._created[run_id]
        self._latest_key = None
        return True

    def clear(self) -> None:
        """Forget every run (a restore that failed half-way)."""
        self._runs.clear()
        self._created.clear()
        self.rescan_latest()

    def rescan_latest(self) -> None:
        """Choose the latest run again on the next ask (after state was put in directly)."""
        self._latest, self._latest_key = None, None

    def _key(self, run: RunAggregator) -> tuple[float, int]:
        t = run.last_event_time
        return (t or float("-inf"), self._created[run.run_id])

    def _on_event(self, run: RunAggregator) -> None:
        if self._latest_key is None:
            return  # a scan is due anyway
        key = self._key(run)
        if key >= self._latest_key:
            self._latest, self._latest_key = run, key
        elif run is self._latest:  # its own time went back (a clock step): look again
            self._latest_key = None

    def latest_run_id(self) -> str | None:
        """The run with the most recent event (ties: the one created last)."""
        if self._latest_key is None:
            self._latest = max(self._runs.values(), key=self._key, default=None)
            self._latest_key = self._key(self._latest) if self._latest else (float("-inf"), -1)
        return self._latest.run_id if self._latest is not None else None
