"""Which values of an event are points of which series (the series index's input).

A series is (run, name, group, env): "ppo_update.kl_divergence" of group "A",
"epoch_completed.val_accuracy" of env 3, "ppo_update.heads.OP.entropy", "metrics.loss".
Extracted are: every numeric scalar of a PPO update (a field with presence only when it was
sent: unknown is not zero) and each head's entropy and gradient norm; every numeric scalar of a
batch (BATCH_EPOCH_COMPLETED) and its per-env accuracies and rewards (env = list index); the
plotted fields of each env's EPOCH_COMPLETED; the producer's own scalars (METRICS events,
the SDK's run.log()) as "metrics.<name>" of their group and env. A point's time is the
producer's timestamp, else the receive time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from operator import attrgetter

from google.protobuf.message import Message

from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_common.presentation import metric, numeric_fields, plotted

#: env_id of a series that belongs to no env.
NO_ENV = -1

#: (name, group_id, env_id, value) of one point.
Point = tuple[str, str, int, float]
#: (run_id, name, group_id, env_id) of one series.
SeriesKey = tuple[str, str, str, int]


def _scalars(message: type[Message]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Numeric non-repeated fields of `message`: (always sent, sent only when measured)."""
    fields = message.DESCRIPTOR.fields_by_name
    names = [n for n in numeric_fields(message)
             if not fields[n].is_repeated]
    return (tuple(n for n in names if not fields[n].has_presence),
            tuple(n for n in names if fields[n].has_presence))


def _scalar_extractor(message: type[Message]) -> Callable[[Message, str], Iterator[Point]]:
    always, optional = _scalars(message)
    names = tuple(metric(message, n) for n in always)
    get = attrgetter(*always)
    optional_names = {n: metric(message, n) for n in optional}

    def extract(payload: Message, group_id: str) -> Iterator[Point]:
        for name, value in zip(names, get(payload), strict=True):
            yield name, group_id, NO_ENV, float(value)
        for field, name in optional_names.items():
            if payload.HasField(field):
                yield name, group_id, NO_ENV, float(getattr(payload, field))

    return extract


_ppo_scalars = _scalar_extractor(tpb.PPOUpdatePayload)
_batch_scalars = _scalar_extractor(tpb.BatchEpochCompletedPayload)
_EPOCH_PLOTTED = plotted(tpb.EpochCompletedPayload)
_EPOCH_NAMES = tuple(metric(tpb.EpochCompletedPayload, n) for n in _EPOCH_PLOTTED)
_epoch_values = attrgetter(*_EPOCH_PLOTTED)
_EPOCH_GETTERS = tuple(map(attrgetter, _EPOCH_PLOTTED))
_EPOCH_PAYLOAD = attrgetter("epoch_completed")
_EPOCH = tpb.EVENT_TYPE_EPOCH_COMPLETED
_ENV_ACC = metric(tpb.BatchEpochCompletedPayload, "env_accuracies")
_ENV_REWARD = metric(tpb.BatchEpochCompletedPayload, "env_rewards")
_HEAD_PREFIX = metric(tpb.PPOUpdatePayload, "heads")


def head_name(head: int) -> str:
    try:
        return tpb.ActionHead.Name(head).removeprefix("ACTION_HEAD_")
    except ValueError:
        return str(head)


def _ppo(event: tpb.TelemetryEvent) -> Iterator[Point]:
    p = event.ppo_update
    group_id = event.group_id
    yield from _ppo_scalars(p, group_id)
    for h in p.heads:
        prefix = f"{_HEAD_PREFIX}.{head_name(h.head)}"
        yield f"{prefix}.entropy", group_id, NO_ENV, h.entropy
        yield f"{prefix}.grad_norm", group_id, NO_ENV, h.grad_norm


def _batch(event: tpb.TelemetryEvent) -> Iterator[Point]:
    p = event.batch_epoch_completed
    group_id = event.group_id
    yield from _batch_scalars(p, group_id)
    for env, value in enumerate(p.env_accuracies):
        yield _ENV_ACC, group_id, env, value
    for env, value in enumerate(p.env_rewards):
        yield _ENV_REWARD, group_id, env, value


def _epoch(event: tpb.TelemetryEvent) -> Iterator[Point]:
    if not event.HasField("env_id"):
        return
    values = _epoch_values(event.epoch_completed)
    if len(_EPOCH_NAMES) == 1:
        values = (values,)
    for name, value in zip(_EPOCH_NAMES, values, strict=True):
        yield name, event.group_id, event.env_id, float(value)


def _metrics(event: tpb.TelemetryEvent) -> Iterator[Point]:
    env = event.env_id if event.HasField("env_id") else NO_ENV
    group_id = event.group_id
    for m in event.metrics.metrics:
        yield f"metrics.{m.name}", group_id, env, m.value


EXTRACTORS: dict[int, Callable[[tpb.TelemetryEvent], Iterator[Point]]] = {
    tpb.EVENT_TYPE_PPO_UPDATE_COMPLETED: _ppo,
    tpb.EVENT_TYPE_BATCH_EPOCH_COMPLETED: _batch,
    tpb.EVENT_TYPE_EPOCH_COMPLETED: _epoch,
    tpb.EVENT_TYPE_METRICS: _metrics,
}


def points_of(events: Iterable[tpb.TelemetryEvent], received_at: float
              ) -> dict[SeriesKey, tuple[list[float], list[float]]]:
    """The points of `events` per series (run, name, group, env): times and values in event
    order. EPOCH_COMPLETED, most of a run's events, is read a column at a time per env."""
    out: dict[SeriesKey, tuple[list[float], list[float]]] = {}
    epochs: dict[tuple[str, str, int], list[tpb.TelemetryEvent]] = {}
    for event in events:
        t = event.event_type
        if t == _EPOCH:
            if event.HasField("env_id"):
                key = (event.run_id, event.group_id, event.env_id)
                same = epochs.get(key)
                if same is None:
                    epochs[key] = [event]
                else:
                    same.append(event)
            continue
        extract = EXTRACTORS.get(t)
        if extract is None:
            continue
        at = event_time(event, received_at)
        run_id = event.run_id
        for name, group_id, env_id, value in extract(event):
            series = out.get((run_id, name, group_id, env_id))
            if series is None:
                series = out[(run_id, name, group_id, env_id)] = ([], [])
            series[0].append(at)
            series[1].append(value)
    for (run_id, group_id, env_id), same in epochs.items():
        times = [event_time(e, received_at) for e in same]
        payloads = list(map(_EPOCH_PAYLOAD, same))
        for name, get in zip(_EPOCH_NAMES, _EPOCH_GETTERS, strict=True):
            out[(run_id, name, group_id, env_id)] = (times, list(map(float, map(get, payloads))))
    return out


def event_time(event: tpb.TelemetryEvent, received_at: float) -> float:
    if event.HasField("timestamp"):
        ts = event.timestamp
        return ts.seconds + ts.nanos * 1e-9
    return received_at
