"""Per-run aggregated state, built by applying telemetry events in order.

The state lives in generated messages (one schema, no mirror classes): a working
`SanctumSnapshot` that the handlers in `sanctum_svc.handlers` mutate, plus, for the event
types that dominate ingest (EPOCH_COMPLETED, ANALYTICS_SNAPSHOT, PPO_UPDATE_COMPLETED),
references to the latest payload messages that `snapshot(now)` copies into the snapshot it
returns, and bounded deques for the sparkline histories. That keeps apply() at a few dict
and attribute operations per event; snapshot() runs at most tens of times/s per run.

apply() never reads the clock: the same events with the same receive times give the same
snapshot, which is what lets the server replay its store after a restart.
"""

from __future__ import annotations

import itertools
from collections import defaultdict, deque
from collections.abc import Callable, Iterable

from esper.sanctum.v1 import sanctum_pb2 as spb
from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_common.derived import liveness_for_age
from sanctum_svc import budget, history
from sanctum_svc.config import SNAPSHOT_BUDGET_BYTES, SUMMARY_GROUP_IDS
from sanctum_svc.handlers import HANDLERS
from sanctum_svc.handlers.common import (
    DECIDED_STAGES,
    RECENT_DECISIONS,
    event_time,
    set_compile,
    set_time,
)
from sanctum_svc.handlers.ppo import fill_ppo
from sanctum_svc.metric_tracks import MetricTracks

#: Batches over which episodes/s is measured.
EPISODE_RATE_WINDOW = 5
#: While assembling envs, one in this many is measured to estimate their total size.
_ENV_SAMPLE = 8


class EnvTrack:
    """One env (host network) of a run: the latest EPOCH_COMPLETED event, its seeds by slot,
    the two running values and bounded histories. `fill` writes the EnvState of a snapshot."""

    __slots__ = (
        "group_id",
        "env_id",
        "last_epoch",
        "best_accuracy",
        "cumulative_reward",
        "seeds",
        "counterfactuals",
        "accuracy_history",
        "reward_history",
    )

    def __init__(self, group_id: str, env_id: int, history_len: int) -> None:
        self.group_id = group_id
        self.env_id = env_id
        #: The latest EPOCH_COMPLETED of this env: accuracy, reward, val_loss, host_params,
        #: epoch and episode are read from it when a snapshot is built.
        self.last_epoch: tpb.TelemetryEvent | None = None
        #: Best accuracy so far; reward summed over the current episode (reset per batch).
        self.best_accuracy = 0.0
        self.cumulative_reward = 0.0
        #: Slot id -> the seed's latest telemetry (a payload message; replaced, never mutated).
        self.seeds: dict[str, tpb.SeedTelemetry] = {}
        #: Slot id -> counterfactual of the seed pruned / fossilized there, shown while the
        #: slot stays in a decided stage and its epoch telemetry does not repeat it.
        self.counterfactuals: dict[str, float] = {}
        self.accuracy_history: deque[float] = deque(maxlen=history_len)
        self.reward_history: deque[float] = deque(maxlen=history_len)

    def own_seed(self, slot_id: str) -> tpb.SeedTelemetry:
        """A private, mutable copy of the seed in `slot_id` (created empty if unknown)."""
        seed = tpb.SeedTelemetry(slot_id=slot_id)
        current = self.seeds.get(slot_id)
        if current is not None:
            seed.CopyFrom(current)
        self.seeds[slot_id] = seed
        return seed

    def fill(self, env: spb.EnvState) -> None:
        env.env_id = self.env_id
        env.group_id = self.group_id
        env.best_accuracy = self.best_accuracy
        env.cumulative_reward = self.cumulative_reward
        event = self.last_epoch
        if event is not None:
            if event.HasField("epoch"):
                env.epoch = event.epoch
            if event.HasField("episode"):
                env.episode = event.episode
            p = event.epoch_completed
            env.accuracy = p.val_accuracy
            env.reward = p.reward
            env.val_loss = p.val_loss
            env.host_params = p.host_params
        seeds = env.seeds
        for slot_id in sorted(self.seeds):
            seeds[slot_id].CopyFrom(self.seeds[slot_id])
        for slot_id, value in self.counterfactuals.items():
            if slot_id in seeds:
                seed = seeds[slot_id]
                if seed.stage in DECIDED_STAGES and not seed.HasField("counterfactual"):
                    seed.counterfactual = value
        env.accuracy_history.extend(self.accuracy_history)
        env.reward_history.extend(self.reward_history)


class RunAggregator:
    """Aggregated state of one run. Events arrive validated, deduplicated and in per-producer
    seq order (the ingest layer guarantees it)."""

    def __init__(self, run_id: str, *, history_len: int = 120, event_log_len: int = 200,
                 snapshot_budget: int = SNAPSHOT_BUDGET_BYTES,
                 on_event: Callable[[RunAggregator], None] | None = None) -> None:
        self.run_id = run_id
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
        #: Envs, decisions and time-dependent fields are added by `snapshot`.
        self.state = spb.SanctumSnapshot(run_id=run_id)
        self.groups: dict[str, spb.TamiyoState] = {}
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
        #: Run-level histories (the fields of spb.Histories), newest last.
        #: Created on first use: an empty deque costs ~0.7 KB, and a server may hold many
        #: runs that never sent a PPO update.
        self.histories: defaultdict[str, deque[float]] = defaultdict(
            lambda: deque(maxlen=history_len))
        #: Latest PPOUpdatePayload per group: its per-update metrics (scalars, heads,
        #: early_stop_epoch, clip ±) are copied into the group's TamiyoState by `snapshot`.
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
    def group(self, group_id: str) -> spb.TamiyoState:
        """The TamiyoState of a policy group; the first group seen is the primary one."""
        tamiyo = self.groups.get(group_id)
        if tamiyo is None:
            tamiyo = self.state.tamiyo if not self.groups else self.state.other_groups.add()
            tamiyo.group_id = group_id
            if self.config is not None:
                set_compile(tamiyo.infrastructure, self.config)
            self.groups[group_id] = tamiyo
        return tamiyo

    def is_primary(self, group_id: str) -> bool:
        """Whether `group_id` is the primary group (the first seen, or none seen yet)."""
        return not self.groups or self.state.tamiyo.group_id == group_id

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
        self.histories[name].append(value)

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
        histories = snap.histories
        for name, values in self.histories.items():
            if values:
                getattr(histories, name).extend(values)
        history.trim(snap.event_log, self.event_log_len)
        omitted, unbuilt = self._fill_envs(snap)
        # A card over the budget's element share would be left out by budget.fit anyway:
        # it is never copied in (a 4 MB card costs ~15 ms to copy and measure).
        fits = self._card_fits
        if self.last_decision or self.last_ppo:
            by_group = {snap.tamiyo.group_id: snap.tamiyo}
            by_group.update((g.group_id, g) for g in snap.other_groups)
            for group_id, decision in self.last_decision.items():
                if fits(decision):
                    by_group[group_id].last_decision.CopyFrom(decision)
                else:
                    omitted["last_decision"] = omitted.get("last_decision", 0) + 1
            for group_id, update in self.last_ppo.items():
                fill_ppo(by_group[group_id], update)
        # Each card once: a group's last decision is in its TamiyoState, not repeated here.
        last = self.last_decision
        recent = [d for d in self.decisions if last.get(d.group_id) is not d]
        kept = [d for d in recent if fits(d)]
        if len(kept) < len(recent):
            omitted["recent_decisions"] = len(recent) - len(kept)
        snap.recent_decisions.extend(kept)
        if self.last_event_time is not None:
            age = max(0.0, now - self.last_event_time)
            snap.liveness = liveness_for_age(age)
            snap.seconds_since_last_event = age
            set_time(snap.last_event_time, self.last_event_time)
        budget.fit(snap, self.snapshot_budget, omitted, unbuilt)
        return snap

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

    def _fill_envs(self, snap: spb.SanctumSnapshot) -> tuple[dict[str, int], int]:
        """Add the envs in (group, env id) order, and the mean of their last rewards. Envs
        past the snapshot budget are not assembled at all (a run may hold very many): their
        count and estimated size are returned for the trim record."""
        if self._env_order is None:
            self._env_order = sorted(self.envs)
        order = self._env_order
        envs = self.envs
        tracks = [envs[key] for key in order]
        rewards = [t.last_epoch.epoch_completed.reward for t in tracks if t.last_epoch is not None]
        if rewards:
            snap.aggregate_mean_reward = sum(rewards) / len(rewards)
        size = 0
        for n, track in enumerate(tracks):
            if size > self.snapshot_budget:
                rest = len(tracks) - n
                return {"envs": rest}, rest * (size // n)
            env = snap.envs.add()
            track.fill(env)
            if n % _ENV_SAMPLE == 0:  # an estimate is enough here: fit() enforces the budget
                size += (env.ByteSize() + 4) * _ENV_SAMPLE
        return {}, 0

    def summary(self, now: float) -> spb.RunSummary:
        """A short description of the run for ListRuns."""
        state = self.state
        out = spb.RunSummary(
            run_id=self.run_id,
            task=state.task_name,
            episodes_completed=state.episodes_completed,
            total_episodes=state.batch_total_episodes or state.run_config.n_episodes,
            n_envs=state.run_config.n_envs,
            group_ids=list(itertools.islice(self.groups, SUMMARY_GROUP_IDS)),
            group_count=len(self.groups),
            status=state.status,
            events_applied=self.events_applied,
        )
        if state.status in (spb.RUN_STATUS_STOPPED, spb.RUN_STATUS_FAILED):
            out.status_reason = state.completion.status
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
                 snapshot_budget: int = SNAPSHOT_BUDGET_BYTES) -> None:
        self._runs: dict[str, RunAggregator] = {}
        #: Creation order of each run (the tie-break of latest_run_id).
        self._created: dict[str, int] = {}
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
                snapshot_budget=self._snapshot_budget, on_event=self._on_event)
            self._created[run_id] = len(self._runs)
            self._runs[run_id] = run
            self._on_event(run)
        return run

    def get(self, run_id: str) -> RunAggregator | None:
        return self._runs.get(run_id)

    def runs(self) -> list[RunAggregator]:
        return list(self._runs.values())

    def __len__(self) -> int:
        return len(self._runs)

    @property
    def snapshot_budget(self) -> int:
        return self._snapshot_budget

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
