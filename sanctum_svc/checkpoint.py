"""Aggregator checkpoints: the whole state a restart rebuilds by replay, as bytes.

`capture` serializes what replaying the store up to a batch would rebuild (every run's
aggregator state, the producers' cursors and recent content digests, the groups and runs
reserved by planning) into an `esper.sanctum.v2.AggregatorCheckpoint`; `restore` puts it
back into a fresh aggregator and ingest pipeline, after which replaying the batches that
follow gives the same state as replaying everything.

Bytes on disk: MAGIC, the format version (uint16, big-endian), a BLAKE2b-128 checksum of
the payload, then the serialized message. `decode` refuses a wrong magic, a newer version
or a checksum mismatch with CheckpointError (the caller falls back to an older checkpoint
or a full replay: a checkpoint is never trusted over the event log).

Each run's part is cached by the run's version, so a periodic checkpoint re-serializes only
the runs that changed since the previous one.
"""

from __future__ import annotations

import hashlib
import struct
from collections import deque
from typing import TYPE_CHECKING

from esper.sanctum.v2 import checkpoint_pb2 as cpb
from sanctum_svc.aggregator import Aggregator, RunAggregator
from sanctum_svc.envtrack import METRICS as ENV_METRICS

if TYPE_CHECKING:
    from sanctum_svc.ingest import IngestPipeline

MAGIC = b"ESCK"
#: The checkpoint format this code writes and reads (older formats are not read: a
#: checkpoint is only a shortcut, the store replays without it).
FORMAT_VERSION = 1
_HEADER = struct.Struct(">4sH16s")

#: RunAggregator attributes a checkpoint holds, and those it does not need (settings given
#: at creation, caches, and views derived from the state). A new attribute must be added to
#: one of them (tests/sanctum/test_checkpoint.py fails otherwise), so a restart from a
#: checkpoint never silently loses state that a replay would rebuild.
RUN_FIELDS = frozenset({
    "version", "delivery", "last_event_time", "events_applied", "state", "envs",
    "last_decision", "decisions", "batch_marks", "series", "last_ppo", "last_vitals"})
RUN_DERIVED = frozenset({
    "run_id", "snapshot_budget", "on_event", "history_len", "event_log_len", "config",
    "groups", "_env_order", "_card_sizes"})


class CheckpointError(Exception):
    """The bytes are not a checkpoint this code can restore."""


def encode(payload: bytes) -> bytes:
    """Frame a serialized AggregatorCheckpoint (magic, version, checksum)."""
    digest = hashlib.blake2b(payload, digest_size=16).digest()
    return _HEADER.pack(MAGIC, FORMAT_VERSION, digest) + payload


def decode(data: bytes) -> cpb.AggregatorCheckpoint:
    """The checkpoint framed in `data`; CheckpointError when it is not intact or too new."""
    if len(data) < _HEADER.size:
        raise CheckpointError(f"too short ({len(data)} bytes)")
    magic, version, digest = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise CheckpointError("not a checkpoint (bad magic)")
    if version != FORMAT_VERSION:
        raise CheckpointError(f"format version {version} (this esper-sanctum reads "
                              f"{FORMAT_VERSION})")
    payload = memoryview(data)[_HEADER.size:]
    if hashlib.blake2b(payload, digest_size=16).digest() != digest:
        raise CheckpointError("checksum mismatch")
    try:
        return cpb.AggregatorCheckpoint.FromString(bytes(payload))
    except Exception as exc:  # noqa: BLE001 - DecodeError and friends, all "not intact"
        raise CheckpointError(f"does not parse ({exc})") from exc


# -- one run -------------------------------------------------------------------------------
def capture_run(run: RunAggregator) -> cpb.CheckpointRun:
    """Everything of `run` that replay would rebuild."""
    out = cpb.CheckpointRun(run_id=run.run_id, version=run.version,
                            has_config=run.config is not None,
                            events_applied=run.events_applied)
    out.delivery.CopyFrom(run.delivery)
    if run.last_event_time is not None:
        out.last_event_time = run.last_event_time
    out.state.CopyFrom(run.state)
    for (group_id, env_id), track in run.envs.items():
        env = out.envs.add(group_id=group_id, env_id=env_id,
                           best_accuracy=track.best_accuracy,
                           cumulative_reward=track.cumulative_reward)
        if track.last_epoch is not None:
            env.last_epoch.CopyFrom(track.last_epoch)
        for slot_id, seed in track.seeds.items():
            env.seeds[slot_id].CopyFrom(seed)
        env.counterfactuals.update(track.counterfactuals)
        for name, values in zip(ENV_METRICS, track.series, strict=True):
            env.series.add(metric=name, values=values)
    decisions = list(run.decisions)
    out.decisions.extend(decisions)
    index = {id(card): i for i, card in enumerate(decisions)}
    for group_id, card in run.last_decision.items():
        i = index.get(id(card))
        entry = out.last_decisions.add(group_id=group_id)
        if i is not None:
            entry.recent_index = i
        else:
            entry.decision.CopyFrom(card)
    for at, episodes in run.batch_marks:
        out.batch_marks.add(received_at=at, episodes_completed=episodes)
    for (metric, group_id), values in run.series.items():
        out.series.add(metric=metric, group_id=group_id, values=values)
    for group_id, update in run.last_ppo.items():
        out.last_updates.add(group_id=group_id).update.CopyFrom(update)
    if run.last_vitals is not None:
        out.last_vitals.CopyFrom(run.last_vitals)
    return out


def restore_run(msg: cpb.CheckpointRun, run: RunAggregator) -> None:
    """Put a captured run's state into `run` (a fresh RunAggregator of the same id)."""
    n = run.history_len
    run.version = msg.version
    run.delivery.CopyFrom(msg.delivery)
    run.last_event_time = msg.last_event_time if msg.HasField("last_event_time") else None
    run.events_applied = msg.events_applied
    run.state.CopyFrom(msg.state)
    run.config = run.state.run.config if msg.has_config else None
    run.groups = {g.group_id: g for g in run.state.tamiyo.groups}
    run.envs.clear()
    for env in msg.envs:
        track = run.env(env.group_id, env.env_id)
        track.last_epoch = env.last_epoch if env.HasField("last_epoch") else None
        track.best_accuracy = env.best_accuracy
        track.cumulative_reward = env.cumulative_reward
        track.seeds = dict(env.seeds.items())
        track.counterfactuals = dict(env.counterfactuals.items())
        by_name = {s.metric: s.values for s in env.series}
        track.series = tuple(deque(by_name.get(name, ()), maxlen=n) for name in ENV_METRICS)
    run.decisions.clear()
    run.decisions.extend(msg.decisions)
    recent = list(run.decisions)
    run.last_decision = {}
    for entry in msg.last_decisions:
        if entry.WhichOneof("card") == "recent_index":
            if entry.recent_index >= len(recent):
                raise CheckpointError(f"run {msg.run_id}: decision index out of range")
            run.last_decision[entry.group_id] = recent[entry.recent_index]
        else:
            run.last_decision[entry.group_id] = entry.decision
    run.batch_marks.clear()
    run.batch_marks.extend((m.received_at, m.episodes_completed) for m in msg.batch_marks)
    run.series = {(s.metric, s.group_id): deque(s.values, maxlen=n) for s in msg.series}
    run.last_ppo = {u.group_id: u.update for u in msg.last_updates}
    run.last_vitals = msg.last_vitals if msg.HasField("last_vitals") else None


# -- the whole aggregator and ingest state -----------------------------------------------------
def _field_bytes(number: int, payload: bytes) -> bytes:
    """A length-delimited field `number` holding `payload` (protobuf wire format)."""
    out = bytearray(_varint(number << 3 | 2))
    out += _varint(len(payload))
    out += payload
    return bytes(out)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


_RUNS_FIELD = cpb.AggregatorCheckpoint.DESCRIPTOR.fields_by_name["runs"].number


class Checkpointer:
    """Captures checkpoints of one pipeline, re-serializing only runs that changed."""

    def __init__(self) -> None:
        #: run id -> (version captured, the run's field bytes in the checkpoint)
        self._cache: dict[str, tuple[int, bytes]] = {}

    def capture(self, pipeline: IngestPipeline, through_batch: int, events: int) -> bytes:
        """The framed checkpoint of `pipeline`'s applied state after batch `through_batch`."""
        head = cpb.AggregatorCheckpoint(through_batch=through_batch, events=events)
        planned = pipeline.planned
        rings = planned.digest_rings()
        for (run_id, producer_id), seq in pipeline.applied_cursors().items():
            head.producers.add(run_id=run_id, producer_id=producer_id, cursor=seq,
                               digest_ring=rings.get((run_id, producer_id), ()))
        for run_id, groups in planned.reserved_groups().items():
            head.planned_groups.add(run_id=run_id, group_ids=sorted(groups))
        head.planned_runs.extend(sorted(planned.reserved_runs()))
        parts = [head.SerializeToString()]
        cache = self._cache
        for run in pipeline.aggregator.runs():
            cached = cache.get(run.run_id)
            if cached is None or cached[0] != run.version:
                cached = cache[run.run_id] = (run.version, _field_bytes(
                    _RUNS_FIELD, capture_run(run).SerializeToString()))
            parts.append(cached[1])
        return encode(b"".join(parts))

    def forget(self, run_id: str) -> None:
        self._cache.pop(run_id, None)


def capture(pipeline: IngestPipeline, through_batch: int = 0, events: int = 0) -> bytes:
    """A framed checkpoint of `pipeline` (see Checkpointer for the periodic, cached one)."""
    return Checkpointer().capture(pipeline, through_batch, events)


def restore(pipeline: IngestPipeline, data: bytes) -> cpb.AggregatorCheckpoint:
    """Restore a framed checkpoint into `pipeline`, whose aggregator must be empty. Returns
    the checkpoint (its through_batch says where replay continues). Raises CheckpointError
    and leaves the pipeline empty when the bytes are not intact."""
    ckpt = decode(data)
    aggregator: Aggregator = pipeline.aggregator
    if len(aggregator):
        raise CheckpointError("the aggregator already holds runs")
    try:
        for msg in ckpt.runs:
            restore_run(msg, aggregator.get_or_create(msg.run_id))
    except CheckpointError:
        aggregator.clear()  # nothing half-restored stays
        raise
    aggregator.rescan_latest()
    cursors = {(p.run_id, p.producer_id): p.cursor for p in ckpt.producers}
    rings = {(p.run_id, p.producer_id): list(p.digest_ring)
             for p in ckpt.producers if p.digest_ring}
    groups = {g.run_id: set(g.group_ids) for g in ckpt.planned_groups}
    pipeline.restore_bookkeeping(cursors, rings, groups, set(ckpt.planned_runs))
    return ckpt
