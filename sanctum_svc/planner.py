"""Planning a batch: what it would change, computed without changing anything.

`PlannedState` is the ingest state as it will be once every batch already planned is
committed: per-producer cursors, per-run delivery stats, the groups, runs and producers
reserved so far, and a digest of each producer's recent events. `plan()` reads it and
returns a `Plan` (new events, duplicates, conflicts, gaps, counter deltas) or raises
`PlanRefused` naming the field that would break a cap; it mutates nothing, so a refused
batch changes nothing. `reserve(plan)` then moves the planned state, arithmetic that
cannot fail (counters saturate). When a write fails, `reset()` falls back to the applied
state. The applied state (snapshots, GetResumeCursor) only moves in ingest's commit step.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.telemetry.v1 import telemetry_pb2 as tpb
from sanctum_svc.config import Limits
from sanctum_svc.store import DropRow
from sanctum_svc.validate import Columns, Violation

Key = tuple[str, str]

#: Seqs per producer whose content digest is kept: a resend of one of them with other
#: content is a conflict; an older duplicate is only a duplicate.
DIGEST_WINDOW = 128


def content_digest(data: bytes) -> int:
    """A digest of one event's bytes that is the same in every process (CRC-32 and the
    length: a checkpoint carries producers' recent digests across a restart)."""
    return zlib.crc32(data) | len(data) << 32


class PlanRefused(Exception):
    """The batch would break a cap; nothing was planned."""

    def __init__(self, violations: list[Violation]) -> None:
        super().__init__(violations[0].description)
        self.violations = violations


@dataclass
class BatchResult:
    """What one accepted batch did."""

    received: int = 0
    applied: int = 0
    duplicate: int = 0
    gaps: int = 0
    conflicting: int = 0
    keys: set[Key] = field(default_factory=set)


@dataclass
class ProducerDelta:
    applied: int = 0
    duplicate: int = 0
    gaps: int = 0
    conflicting: int = 0
    last_seq: int = 0
    dropped_total: int | None = None


@dataclass
class RunDelta:
    received: int = 0
    applied: int = 0
    duplicate: int = 0
    gaps: int = 0
    conflicting: int = 0
    dropped: int = 0
    producers: dict[str, ProducerDelta] = field(default_factory=dict)
    new_producers: int = 0
    groups: set[str] = field(default_factory=set)


@dataclass(eq=False)
class Plan:
    """A classified batch, ready to persist and apply."""

    result: BatchResult
    accepted: list[int] | None              # indices into the batch's events; None = all
    cursors: dict[Key, int]                 # last seq per producer after the batch
    runs: dict[str, RunDelta]
    drops: list[DropRow] = field(default_factory=list)
    #: Gives each event's content digest (computed once, when first needed); None: none.
    digest_source: Callable[[], Sequence[int]] | None = None
    _digests: Sequence[int] | None = None

    def digests(self) -> Sequence[int] | None:
        if self._digests is None and self.digest_source is not None:
            self._digests = self.digest_source()
        return self._digests
    #: All events accepted and from one producer: (run_id, producer_id, first, last seq).
    single: tuple[str, str, int, int] | None = None
    #: RunConfig declared by the batch's accepted TRAINING_STARTED events, per run.
    declares: dict[str, tpb.RunConfig] = field(default_factory=dict)
    #: Post-batch DeliveryStats per touched run (filled by `reserve`).
    delivery: dict[str, bytes] = field(default_factory=dict)


_COUNTERS = ("received", "applied", "duplicate", "gaps", "conflicting")
_STATS_FIELDS = ("events_received", "events_applied", "events_duplicate", "gap_events",
                 "events_conflicting")


class PlannedState:
    """The state planning reads (see the module docstring)."""

    def __init__(self, applied_stats: Callable[[str], spb.DeliveryStats | None],
                 counter_max: int = (1 << 64) - 1) -> None:
        self._applied_stats = applied_stats
        self.counter_max = counter_max
        self.cursors: dict[Key, int] = {}
        self._stats: dict[str, spb.DeliveryStats] = {}
        self._index: dict[str, dict[str, int]] = {}
        self._groups: dict[str, set[str]] = {}
        self._runs: set[str] = set()
        self._digests: dict[Key, list[int]] = {}

    # -- reading ----------------------------------------------------------------------------
    def stats(self, run_id: str) -> spb.DeliveryStats | None:
        stats = self._stats.get(run_id)
        return stats if stats is not None else self._applied_stats(run_id)

    def producer(self, run_id: str, producer_id: str) -> spb.ProducerDelivery | None:
        stats = self.stats(run_id)
        if stats is None:
            return None
        index = self._index.setdefault(run_id, {})
        i = index.get(producer_id)
        producers = stats.producers
        if i is None or i >= len(producers) or producers[i].producer_id != producer_id:
            if len(index) >= len(producers) and i is None:
                return None  # every producer of the run is indexed: a new one
            index.clear()
            index.update((p.producer_id, k) for k, p in enumerate(producers))
            i = index.get(producer_id)
            if i is None:
                return None
        return producers[i]

    def known_run(self, run_id: str) -> bool:
        return run_id in self._runs or self._applied_stats(run_id) is not None

    # -- planning (pure) ----------------------------------------------------------------------
    def plan(self, events: Sequence[tpb.TelemetryEvent], drops: Sequence[tpb.ProducerDrops],
             cols: Columns, digests: Callable[[], Sequence[int]] | None,
             limits: Limits | None) -> Plan:
        """Classify a validated batch against the planned state. Raises PlanRefused when a
        cap (limits; None on replay: what was stored stays) would be broken."""
        _, run_ids, producer_ids, seqs = cols
        n = len(seqs)
        refused: list[Violation] = []
        runs: dict[str, RunDelta] = {}
        cursors: dict[Key, int] = {}
        result = BatchResult()
        accepted: list[int] = []
        segments: Sequence[tuple[int, int]]
        r0, p0 = (run_ids[0], producer_ids[0]) if n else ("", "")
        if (n and run_ids.count(r0) == n and producer_ids.count(p0) == n
                and seqs[0] > self.cursors.get((r0, p0), 0)
                and (n <= 2 and seqs[-1] == seqs[0] + n - 1 or seqs == list(
                    range(seqs[0], seqs[0] + n)))):
            segments = ((0, n - 1),)  # the common case: one producer, new consecutive seqs
            common = True
        else:
            segments = [(i, i) for i in range(n)]
            common = False
        seen: dict[tuple[str, str, int], int] = {}  # (run, producer, seq) -> event index
        plan = Plan(result, accepted, cursors, runs, digest_source=digests)
        for i0, i1 in segments:
            if refused:
                break  # a cap is broken: the batch is refused, stop working on it
            run_id, producer_id = run_ids[i0], producer_ids[i0]
            key = (run_id, producer_id)
            rd = runs.get(run_id)
            if rd is None:
                rd = runs[run_id] = self._run_delta(run_id, i0, len(runs), limits, refused,
                                                    "events")
            pd = rd.producers.get(producer_id)
            if pd is None:
                pd = rd.producers[producer_id] = self._producer_delta(
                    run_id, producer_id, rd, limits, refused, f"events[{i0}].producer_id")
            count = i1 - i0 + 1
            rd.received += count
            result.keys.add(key)
            last = cursors.get(key)
            if last is None:
                last = self.cursors.get(key, 0)
            s0 = seqs[i0]
            if s0 > last:
                jump = s0 - last
                if limits is not None and jump > limits.max_seq_jump:
                    refused.append(Violation(
                        f"events[{i0}].seq",
                        f"seq {s0} jumps {jump:,} past the producer's last seq {last} (the "
                        f"limit is {limits.max_seq_jump:,}): a producer's seq grows by 1 per "
                        "event; give a restarted process its own producer_id"))
                    continue
                gap = jump - 1
                rd.applied += count
                pd.applied += count
                rd.gaps += gap
                pd.gaps += gap
                pd.last_seq = cursors[key] = seqs[i1]
                if count == 1:
                    accepted.append(i0)
                    seen[(run_id, producer_id, s0)] = i0
                continue
            if plan.digests() is not None and self._conflicts(plan, key, i0, s0, seen):
                rd.conflicting += 1
                pd.conflicting += 1
            else:
                rd.duplicate += 1
                pd.duplicate += 1
        self._check_groups(events, run_ids, runs, limits, refused)
        for j, d in enumerate(drops):
            if refused:
                break
            self._plan_drop(j, d, plan, limits, refused)
        if refused:
            raise PlanRefused(refused[:20])
        for rd in runs.values():
            for name in _COUNTERS:
                setattr(result, name, getattr(result, name) + getattr(rd, name))
        result.received = n
        if common:
            plan.accepted = None
            plan.single = (r0, p0, seqs[0], seqs[-1])
        elif len(accepted) == n:
            plan.accepted = None
            if len(cursors) == 1:
                (r, p), = cursors
                plan.single = (r, p, seqs[0], seqs[-1])
        return plan

    def _run_delta(self, run_id: str, i: int, new_so_far: int, limits: Limits | None,
                   refused: list[Violation], where: str) -> RunDelta:
        if limits is not None and not self.known_run(run_id) \
                and len(self._runs) + new_so_far + 1 > limits.max_runs:
            refused.append(Violation(
                    f"{where}[{i}].run_id",
                    f"sanctum already holds {limits.max_runs} runs, its limit: no new run "
                    "is accepted (restart it on a new --store to start over)"))
        return RunDelta()

    def _producer_delta(self, run_id: str, producer_id: str, rd: RunDelta,
                        limits: Limits | None, refused: list[Violation],
                        where: str) -> ProducerDelta:
        if self.producer(run_id, producer_id) is None:
            rd.new_producers += 1
            if limits is not None:
                stats = self.stats(run_id)
                have = len(stats.producers) if stats is not None else 0
                if have + rd.new_producers > limits.max_producers_per_run:
                    refused.append(Violation(
                        where, f"run already has {have} producers, the limit per run is "
                               f"{limits.max_producers_per_run}"))
        return ProducerDelta()

    def _check_groups(self, events: Sequence[tpb.TelemetryEvent], run_ids: list[str],
                      runs: dict[str, RunDelta], limits: Limits | None,
                      refused: list[Violation]) -> None:
        groups = [e.group_id for e in events]
        single = len(runs) == 1
        for run_id, rd in runs.items():
            known = self._groups.get(run_id, set())
            wanted = set(groups) if single else {
                g for g, r in zip(groups, run_ids, strict=True) if r == run_id}
            rd.groups = wanted - known
            if limits is not None and len(known) + len(rd.groups) > limits.max_groups_per_run:
                first = next(i for i, (g, r) in enumerate(zip(groups, run_ids, strict=True))
                             if r == run_id and g in rd.groups)
                refused.append(Violation(
                    f"events[{first}].group_id",
                    f"run already has {len(known)} policy groups, the limit per run is "
                    f"{limits.max_groups_per_run}"))

    def _plan_drop(self, j: int, d: tpb.ProducerDrops, plan: Plan, limits: Limits | None,
                   refused: list[Violation]) -> None:
        rd = plan.runs.get(d.run_id)
        if rd is None:
            rd = plan.runs[d.run_id] = self._run_delta(d.run_id, j, len(plan.runs), limits,
                                                       refused, "drops")
        pd = rd.producers.get(d.producer_id)
        if pd is None:
            pd = rd.producers[d.producer_id] = self._producer_delta(
                d.run_id, d.producer_id, rd, limits, refused, f"drops[{j}].producer_id")
        if pd.dropped_total is not None:
            before = pd.dropped_total
        else:
            known = self.producer(d.run_id, d.producer_id)
            before = known.dropped_total if known is not None else 0
        if d.dropped_total > before:
            rd.dropped += d.dropped_total - before
            pd.dropped_total = d.dropped_total
            plan.drops.append((d.run_id, d.producer_id, d.dropped_total))

    def _conflicts(self, plan: Plan, key: Key, i: int, seq: int,
                   seen: dict[tuple[str, str, int], int]) -> bool:
        """Whether event i (seq, a duplicate) differs from what was accepted for seq."""
        digests = plan.digests()
        assert digests is not None
        earlier = seen.get((*key, seq))
        known = digests[earlier] if earlier is not None else self._digest(key, seq)
        return bool(known) and (digests[i] or 1) != known

    def _digest(self, key: Key, seq: int) -> int:
        ring = self._digests.get(key)
        if ring is None or seq > ring[0] or ring[0] - seq >= DIGEST_WINDOW:
            return 0  # not recorded (a gap skipped in this batch) or too old
        return ring[1 + seq % DIGEST_WINDOW]

    # -- moving the planned state ---------------------------------------------------------------
    def reserve(self, plan: Plan, events: Sequence[tpb.TelemetryEvent]) -> None:
        """Make `plan` part of the planned state and serialize the touched runs' stats."""
        top = self.counter_max
        for run_id, rd in plan.runs.items():
            stats = self._own_stats(run_id)
            for name, attr in zip(_COUNTERS, _STATS_FIELDS, strict=True):
                delta = getattr(rd, name)
                if delta:
                    setattr(stats, attr, min(top, getattr(stats, attr) + delta))
            if rd.dropped:
                stats.producer_dropped = min(top, stats.producer_dropped + rd.dropped)
            for producer_id, pd in rd.producers.items():
                p = self.producer(run_id, producer_id)
                if p is None:
                    p = stats.producers.add(producer_id=producer_id)
                    self._index.setdefault(run_id, {})[producer_id] = len(stats.producers) - 1
                p.events_applied = min(top, p.events_applied + pd.applied)
                p.events_duplicate = min(top, p.events_duplicate + pd.duplicate)
                p.gap_events = min(top, p.gap_events + pd.gaps)
                p.events_conflicting = min(top, p.events_conflicting + pd.conflicting)
                if pd.last_seq:
                    p.last_seq = pd.last_seq
                if pd.dropped_total is not None:
                    p.dropped_total = pd.dropped_total
            if rd.groups:
                self._groups.setdefault(run_id, set()).update(rd.groups)
            self._runs.add(run_id)
            plan.delivery[run_id] = stats.SerializeToString()
        self.cursors.update(plan.cursors)
        if plan.digest_source is not None and plan.result.applied:
            self._record_digests(plan, events)

    def _record_digests(self, plan: Plan, events: Sequence[tpb.TelemetryEvent]) -> None:
        digests = plan.digests()
        assert digests is not None
        single = plan.single
        if single is not None and single[3] - single[2] + 1 == len(digests):
            run_id, producer_id, first, last = single
            ring = self._ring((run_id, producer_id))
            w = DIGEST_WINDOW
            start = max(first, last - w + 1)
            for skipped in range(max(ring[0] + 1, start - w), start):
                ring[1 + skipped % w] = 0  # a gap since the last recorded seq: no content
            values = [d or 1 for d in digests[start - first:]]
            cut = w - start % w  # slots start % w .. w-1, then 0 ..
            ring[1 + start % w:1 + start % w + len(values[:cut])] = values[:cut]
            if len(values) > cut:
                ring[1:1 + len(values) - cut] = values[cut:]
            ring[0] = last
            return
        indices = range(len(events)) if plan.accepted is None else plan.accepted
        for i in indices:
            ev = events[i]
            _put(self._ring((ev.run_id, ev.producer_id)), ev.seq, digests[i])

    def _ring(self, key: Key) -> list[int]:
        """[last recorded seq, digest of seq % DIGEST_WINDOW for each slot...]"""
        ring = self._digests.get(key)
        if ring is None:
            ring = self._digests[key] = [0] * (DIGEST_WINDOW + 1)
        return ring

    def _own_stats(self, run_id: str) -> spb.DeliveryStats:
        stats = self._stats.get(run_id)
        if stats is None:
            stats = self._stats[run_id] = spb.DeliveryStats()
            applied = self._applied_stats(run_id)
            if applied is not None:
                stats.CopyFrom(applied)
        return stats

    def add_rejected(self, per_run: dict[str, int]) -> dict[str, bytes]:
        """Count rejected events against existing runs; their serialized stats."""
        out = {}
        for run_id, n in per_run.items():
            stats = self._own_stats(run_id)
            stats.events_received = min(self.counter_max, stats.events_received + n)
            stats.events_rejected = min(self.counter_max, stats.events_rejected + n)
            out[run_id] = stats.SerializeToString()
        return out

    # -- checkpoints -------------------------------------------------------------------------
    def digest_rings(self) -> dict[Key, list[int]]:
        return self._digests

    def reserved_groups(self) -> dict[str, set[str]]:
        return self._groups

    def reserved_runs(self) -> set[str]:
        return self._runs

    def restore(self, cursors: dict[Key, int], rings: dict[Key, list[int]],
                groups: dict[str, set[str]], runs: set[str]) -> None:
        """Take the bookkeeping of a checkpoint (before the batches after it are replayed)."""
        self.reset(cursors)
        self._digests = {k: v for k, v in rings.items() if len(v) == DIGEST_WINDOW + 1}
        self._groups = groups
        self._runs = runs

    def forget_run(self, run_id: str) -> None:
        """Drop what is held for a deleted run."""
        self._stats.pop(run_id, None)
        self._index.pop(run_id, None)
        self._groups.pop(run_id, None)
        self._runs.discard(run_id)
        for key in [k for k in self._digests if k[0] == run_id]:
            del self._digests[key]
        self.cursors = {k: v for k, v in self.cursors.items() if k[0] != run_id}

    def reset(self, applied_cursors: dict[Key, int], keep_digests: bool = False) -> None:
        """Forget what was planned on top of the applied state (a write failed; or replay
        ended, keep_digests=True). Reserved runs and groups stay reserved: at worst a cap
        counts a batch that is resent."""
        self.cursors = dict(applied_cursors)
        self._stats.clear()
        self._index.clear()
        if not keep_digests:
            self._digests.clear()


def _put(ring: list[int], seq: int, digest: int) -> None:
    """Record seq's digest; slots of seqs skipped since the last one recorded are cleared
    (a gap has no content to conflict with)."""
    w = DIGEST_WINDOW
    prev = ring[0]
    for skipped in range(max(prev + 1, seq - w + 1), seq):
        ring[1 + skipped % w] = 0
    ring[0] = seq
    ring[1 + seq % w] = digest or 1
