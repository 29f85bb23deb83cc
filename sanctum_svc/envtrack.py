"""One env (host network) of a run, as the aggregator tracks it between snapshots.

The latest EPOCH_COMPLETED is kept by reference and copied into a snapshot's EnvState only
when one is built; what accumulates (best accuracy, the episode's reward, the seeds by slot,
the series of the plotted epoch fields) is updated per event.
"""

from __future__ import annotations

from collections import deque

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_common.presentation import getter, metric, plotted

#: Plotted EPOCH_COMPLETED fields, their series names and a getter of their values.
PLOTTED = plotted(tpb.EpochCompletedPayload)
METRICS = tuple(metric(tpb.EpochCompletedPayload, name) for name in PLOTTED)
plotted_values = getter(PLOTTED)
#: Stages after a prune / fossilize: the slot shows the counterfactual measured then.
DECIDED_STAGES = frozenset({tpb.SEED_STAGE_FOSSILIZED, tpb.SEED_STAGE_PRUNED,
                            tpb.SEED_STAGE_EMBARGOED, tpb.SEED_STAGE_RESETTING})


class EnvTrack:
    """One env of a run; `fill` writes its EnvState and `fill_series` its History entries."""

    __slots__ = ("group_id", "env_id", "last_epoch", "best_accuracy", "cumulative_reward",
                 "seeds", "counterfactuals", "series")

    def __init__(self, group_id: str, env_id: int, history_len: int) -> None:
        self.group_id = group_id
        self.env_id = env_id
        #: The latest EPOCH_COMPLETED event of this env (its payload and envelope are read
        #: when a snapshot is built).
        self.last_epoch: tpb.TelemetryEvent | None = None
        #: Best accuracy so far; reward summed over the current episode (reset per batch).
        self.best_accuracy = 0.0
        self.cumulative_reward = 0.0
        #: Slot id -> the seed's latest telemetry (a payload message; replaced, never mutated).
        self.seeds: dict[str, tpb.SeedTelemetry] = {}
        #: Slot id -> counterfactual of the seed pruned / fossilized there, shown while the
        #: slot stays in a decided stage and its epoch telemetry does not repeat it.
        self.counterfactuals: dict[str, float] = {}
        #: One bounded series per plotted field, in METRICS order.
        self.series: tuple[deque[float], ...] = tuple(
            deque(maxlen=history_len) for _ in METRICS)

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
            last = env.last_epoch
            last.CopyFrom(event.epoch_completed)
            if last.seeds:  # `seeds` holds every slot's state
                del last.seeds[:]
        seeds = env.seeds
        for slot_id in sorted(self.seeds):
            seeds[slot_id].CopyFrom(self.seeds[slot_id])
        for slot_id, value in self.counterfactuals.items():
            if slot_id in seeds:
                seed = seeds[slot_id]
                if seed.stage in DECIDED_STAGES and not seed.HasField("counterfactual"):
                    seed.counterfactual = value

    def fill_series(self, out: spb.HistorySection) -> None:
        for name, values in zip(METRICS, self.series, strict=True):
            if values:
                series = out.series.add(metric=name, group_id=self.group_id, env_id=self.env_id)
                series.values.extend(values)
