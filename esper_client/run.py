"""`esper_client.init(...)` and the `Run` it returns: one training run streaming to sanctum.

    run = esper_client.init(server="gpu-box:50051", config={"lr": 3e-4, "batch_size": 64},
                            tags=["baseline"])
    run.epoch_completed(val_accuracy=0.91, env_id=0, epoch=3)   # typed emitters
    run.finish()                                                # or `with init(...) as run:`

`init` declares the run (TRAINING_STARTED with the config as free-form hyperparameters and
tags; keys that name a RunConfig field, such as "lr" or "seed", fill that field too) and
starts the background sender. Leaving a `with` block reports how the run ended (completed,
interrupted by Ctrl-C, or failed with the exception); without `finish()` the run is still
flushed at interpreter exit and, like a trainer that vanished, stays "running" until
sanctum calls it stale.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_client.client import TelemetryClient
from esper_client.config import TelemetryConfig
from esper_client.deferred import Call, Deferred, Pool
from esper_client.emitters import Emitters
from esper_client.ids import default_producer_id, new_run_id
from esper_common.events import MAX_METRIC_NAME_CHARS, MAX_METRIC_NAMES

log = logging.getLogger("esper_client")
_Event = tpb.TelemetryEvent
_METRICS = tpb.EVENT_TYPE_METRICS

DEFAULT_SERVER = "127.0.0.1:50051"
#: Contract limits of a run's free-form declaration (RunConfig.hyperparameters / tags).
MAX_HYPERPARAMETERS = 256
MAX_NAME_CHARS = 128
MAX_VALUE_BYTES = 1024
MAX_TAGS = 64
MAX_TAG_BYTES = 4096

_TYPED = {f.name: f for f in tpb.RunConfig.DESCRIPTOR.fields
          if not f.is_repeated and f.message_type is None}


class Run(Emitters):
    """One run: typed emitters (see esper_client.emitters), `finish`, `close`, `stats`."""

    def __init__(self, client: TelemetryClient) -> None:
        self.client = client
        self._defer = client.emit_deferred  # type: ignore[method-assign]
        self._calls: Pool[Call] = Pool(Call)
        self._logs: Pool[_LogCall] = Pool(_LogCall)
        self.run_id = client.cfg.run_id
        self.producer_id = client.cfg.producer_id
        self._nonfinite = 0
        self._finished = False
        self._metric_names: set[str] = set()
        self._refused_names = 0

    def log(self, metrics: Mapping[str, float], step: int | None = None, *,
            group_id: str | None = None, env_id: int | None = None) -> None:
        """Log scalars (name -> number, e.g. {"loss": 0.31, "lr": 3e-4}) at `step`.

        Never blocks: the values are read now (float(), so a tensor is read before the
        loop changes it), the event is built by the sender thread. A value that is not
        finite is left out (stats()["nonfinite"]). A run has at most MAX_METRIC_NAMES names
        of 1 to MAX_METRIC_NAME_CHARS characters: further or longer names are refused
        (stats()["refused_names"], logged once).
        """
        call = self._logs.take()
        call.run = self
        call.names.extend(metrics)
        call.values.extend(map(float, metrics.values()))
        call.step, call.group_id, call.env_id = step, group_id, env_id
        self._defer(call)

    def _admit(self, name: object) -> bool:
        """Whether a new metric name can be logged (it then is known)."""
        why = ""
        if not isinstance(name, str) or not 0 < len(name) <= MAX_METRIC_NAME_CHARS:
            why = f"a name must be a string of 1 to {MAX_METRIC_NAME_CHARS} characters"
        elif len(self._metric_names) >= MAX_METRIC_NAMES:
            why = f"a run has at most {MAX_METRIC_NAMES} metric names"
        if why:
            self._refused_names += 1
            if self._refused_names == 1:
                log.warning("esper_client: metric %.60r not logged: %s (further refusals "
                            "are counted in stats()['refused_names'])", name, why)
            return False
        self._metric_names.add(str(name))
        return True

    def start(self) -> Run:
        """Start the background sender (done by `init` unless start=False: start after
        forking data-loader workers)."""
        self.client.start()
        return self

    def finish(self, status: str = "completed", *, final_accuracy: float | None = None,
               total_episodes: int | None = None, timeout: float = 10.0) -> None:
        """Report how the run ended ("completed", "interrupted", "error: ...") and flush,
        waiting at most `timeout` seconds. Idempotent."""
        if self._finished:
            return
        self._finished = True
        self.training_completed(status=status[:4096], final_accuracy=final_accuracy,  # type: ignore[attr-defined]
                                total_episodes=total_episodes)
        self.client.close(timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Flush what was emitted (at most `timeout` s) without saying the run ended."""
        self._finished = True
        self.client.close(timeout)

    def stats(self) -> dict[str, int]:
        """Delivery counters of the client, plus `nonfinite` (doubles left out) and
        `refused_names` (log() values of names over the limits)."""
        return {**self.client.stats(), "nonfinite": self._nonfinite,
                "refused_names": self._refused_names}

    def __enter__(self) -> Run:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if kind is None:
            self.finish()
        elif issubclass(kind, KeyboardInterrupt):
            self.finish("interrupted")
        else:
            self.finish(f"error: {kind.__name__}: {exc}")


class _LogCall(Deferred):
    """One log() call (recycled), built into a METRICS event by the sender thread."""

    __slots__ = ("env_id", "group_id", "names", "run", "step", "values")

    def __init__(self, pool: Pool[_LogCall] | None = None) -> None:
        super().__init__(pool)
        self.event_type = _METRICS
        self.run: Run | None = None
        self.names: list[str] = []
        self.values: list[float] = []
        self.step: int | None = None
        self.group_id: str | None = None
        self.env_id: int | None = None

    def build(self) -> tpb.TelemetryEvent:
        run = self.run
        assert run is not None
        ev = _Event(event_type=_METRICS)
        p = ev.metrics
        p.SetInParent()
        add = p.metrics.add
        known = run._metric_names
        for name, x in zip(self.names, self.values, strict=True):
            if x - x != 0.0:  # NaN or infinite
                run._nonfinite += 1
            elif name in known or run._admit(name):
                m = add()
                m.name = name
                m.value = x
        if self.step is not None:
            p.step = self.step
        if self.group_id is not None:
            ev.group_id = self.group_id
        if self.env_id is not None:
            ev.env_id = self.env_id
        return ev

    def reset(self) -> None:
        self.names.clear()
        self.values.clear()
        self.run = None


def run_config(config: Mapping[str, Any] | None, tags: Sequence[str] = ()) -> tpb.RunConfig:
    """The RunConfig declaring `config` and `tags`: every key as a free-form hyperparameter
    (value written out), and keys naming a scalar RunConfig field ("lr", "seed", "task")
    in that field too. ValueError for what the contract cannot carry."""
    cfg = tpb.RunConfig()
    items = list((config or {}).items())
    if len(items) > MAX_HYPERPARAMETERS:
        raise ValueError(f"{len(items)} hyperparameters; at most {MAX_HYPERPARAMETERS}")
    for name, value in items:
        name = str(name)
        if not 0 < len(name) <= MAX_NAME_CHARS:
            raise ValueError(f"hyperparameter name {name[:40]!r}: 1 to {MAX_NAME_CHARS} "
                             "characters")
        text = value if isinstance(value, str) else repr(value)
        if len(text.encode()) > MAX_VALUE_BYTES:
            text = text.encode()[:MAX_VALUE_BYTES - 3].decode(errors="ignore") + "…"
        cfg.hyperparameters.add(name=name, value=text)
        _typed(cfg, name, value)
    tags = [str(t) for t in tags]
    if len(tags) > MAX_TAGS or any(not t or len(t.encode()) > MAX_TAG_BYTES for t in tags):
        raise ValueError(f"tags: at most {MAX_TAGS}, each 1 to {MAX_TAG_BYTES} bytes")
    cfg.tags.extend(tags)
    return cfg


def _typed(cfg: tpb.RunConfig, name: str, value: Any) -> None:
    """Set RunConfig.<name> from `value` when the field exists and the value fits it."""
    f = _TYPED.get(name)
    if f is None or isinstance(value, bool) != (f.type == f.TYPE_BOOL):
        return
    try:
        if f.type in (f.TYPE_DOUBLE, f.TYPE_FLOAT):
            if isinstance(value, int | float) and math.isfinite(value):
                setattr(cfg, name, float(value))
        elif f.type == f.TYPE_STRING:
            if isinstance(value, str) and len(value.encode()) <= 4096:
                setattr(cfg, name, value)
        elif f.type != f.TYPE_ENUM and isinstance(value, int):
            setattr(cfg, name, value)
    except (TypeError, ValueError):  # out of the field's range: the hyperparameter stays
        pass


def init(server: str | None = None, run_id: str | None = None,
         config: Mapping[str, Any] | None = None, tags: Sequence[str] = (),
         token: str | None = None, *, tls_ca: str | None = None,
         producer_id: str | None = None, spool_dir: str | None = None,
         file_path: str | None = None, start: bool = True, **options: Any) -> Run:
    """Start streaming a run to sanctum and return its handle.

    server: "host:port" (default $ESPER_SERVER, else 127.0.0.1:50051). run_id: default
    "<script>-<date-time>-<hex>". config / tags: the run's free-form hyperparameters and
    labels. token: bearer token (default $ESPER_TOKEN); tls_ca: CA file of a TLS sanctum.
    file_path instead of a server writes an event file (`esper-sanctum ingest` loads it).
    start=False: call run.start() yourself, after forking data-loader workers.
    `options`: further TelemetryConfig fields (buffer sizes, timeouts).
    """
    if file_path is None:
        server = server or os.environ.get("ESPER_SERVER") or DEFAULT_SERVER
    cfg = TelemetryConfig(
        target=server if file_path is None else None, run_id=run_id or new_run_id(),
        producer_id=producer_id or default_producer_id(),
        token=token if token is not None else os.environ.get("ESPER_TOKEN"), tls_ca=tls_ca,
        file_path=file_path, spool_dir=spool_dir, **options)
    declared = run_config(config, tags)
    run = Run(TelemetryClient(cfg))
    run.training_started(config=declared)  # type: ignore[attr-defined]
    if start:
        run.start()
    return run
