"""The replicated event log: one JetStream stream of accepted EventBatch bytes.

Every accepted batch is one message. Its Nats-Msg-Id names the run, producer and seq
range it carries plus a digest of its bytes, so a producer that resends the same batch to
another replica (after a fail-over) within DUPLICATE_WINDOW_S stores it once; a batch with
the same seqs but other content is stored and counted as a conflict by the planner, as in
the single-process store.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import zlib
from dataclasses import dataclass

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext, api
from nats.js.errors import NotFoundError

from esper.telemetry.v1 import telemetry_pb2 as tpb
from sanctum_svc.config import MAX_RECEIVE_BYTES

log = logging.getLogger(__name__)

STREAM = "ESPER_EVENTS"
SUBJECT_PREFIX = "esper.events"
#: Seconds a starting replica waits for its first connection to the cluster.
STARTUP_WAIT_S = 15.0
#: Seconds a publish is retried (same message id) through a NATS server failure.
PUBLISH_RETRY_S = 10.0
#: Room for headers and the IngestRequest framing around a largest batch.
PAYLOAD_MARGIN = 64 * 1024
#: JetStream de-duplicates equal Nats-Msg-Ids published within this window.
DUPLICATE_WINDOW_S = 120.0


class ClusterError(Exception):
    """The cluster cannot be reached or refused an operation (a transient condition)."""


@dataclass(frozen=True)
class LogConfig:
    """Where the log lives and how much of it is kept (see README, "Cluster mode")."""

    servers: tuple[str, ...]
    #: Copies of every message (JetStream replicas); 3 survives one NATS server down.
    replicas: int = 3
    #: Retention: the oldest messages go first past either bound. A replica that starts
    #: later than this catches up from its last checkpoint, which is never older than
    #: CHECKPOINT_EVERY messages, so the stream only needs to outlive a checkpoint.
    max_bytes: int = 8 * 1024**3
    max_age_s: float = 7 * 24 * 3600.0
    #: A checkpoint of the aggregator per this many stream messages (batches).
    checkpoint_every: int = 10_000
    #: Subjects the stream spans (esper.events.<p>): runs hash onto partitions.
    partitions: int = 1
    connect_timeout_s: float = 2.0
    publish_timeout_s: float = 2.0


def parse_servers(spec: str) -> tuple[str, ...]:
    """'nats://a:4222,b:4222' -> ('nats://a:4222', 'nats://b:4222'); ValueError if empty."""
    out = []
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        out.append(part if "://" in part else f"nats://{part}")
    if not out:
        raise ValueError("--cluster wants NATS addresses, e.g. nats://a:4222,b:4222,c:4222")
    return tuple(out)


def partition(run_id: str, partitions: int) -> int:
    """The partition of a run: stable across processes and versions (crc32)."""
    return zlib.crc32(run_id.encode()) % partitions


def message_id(batch: tpb.EventBatch, data: bytes) -> str:
    """run/producer/first-last per key in the batch, then a digest of the bytes."""
    ranges: dict[tuple[str, str], list[int]] = {}
    for ev in batch.events:
        r = ranges.setdefault((ev.run_id, ev.producer_id), [ev.seq, ev.seq])
        r[0], r[1] = min(r[0], ev.seq), max(r[1], ev.seq)
    keys = ";".join(f"{run}/{prod}/{lo}-{hi}" for (run, prod), (lo, hi) in sorted(ranges.items()))
    digest = hashlib.blake2b(data, digest_size=8).hexdigest()
    if len(keys) > 200:  # a header stays small; the digest still tells batches apart
        keys = hashlib.blake2b(keys.encode(), digest_size=16).hexdigest()
    return f"{keys}#{digest}"


class EventLog:
    """A connection to the cluster and the stream on it."""

    def __init__(self, config: LogConfig) -> None:
        self.config = config
        self.nc: Client | None = None
        self.js: JetStreamContext | None = None

    async def connect(self) -> None:
        """Connect (reconnecting forever afterwards) and create or update the stream."""
        cfg = self.config
        try:
            # Retries forever once connected; the first connection gets STARTUP_WAIT_S.
            self.nc = await asyncio.wait_for(nats.connect(
                servers=list(cfg.servers), connect_timeout=cfg.connect_timeout_s,
                max_reconnect_attempts=-1, reconnect_time_wait=0.2, allow_reconnect=True,
                ping_interval=2, max_outstanding_pings=2,
                error_cb=_quiet, disconnected_cb=_disconnected, reconnected_cb=_reconnected),
                STARTUP_WAIT_S)
        except Exception as exc:  # nats raises several unrelated types for "unreachable"
            why = str(exc) or type(exc).__name__
            raise ClusterError(f"cannot reach the NATS cluster at {', '.join(cfg.servers)} "
                               f"within {STARTUP_WAIT_S:g} s ({why}); is it running?") from None
        if self.nc.max_payload < MAX_RECEIVE_BYTES + PAYLOAD_MARGIN:
            limit = self.nc.max_payload
            await self.close()
            raise ClusterError(
                f"the NATS servers accept messages up to {limit} bytes (max_payload) but "
                f"sanctum accepts batches up to {MAX_RECEIVE_BYTES}: set `max_payload: 8MB` "
                "in every nats-server configuration (esper cluster up does)")
        self.js = self.nc.jetstream(timeout=cfg.publish_timeout_s)
        await self._ensure_stream()

    async def _ensure_stream(self) -> None:
        cfg = self.config
        assert self.js is not None
        stream = api.StreamConfig(
            name=STREAM, subjects=[f"{SUBJECT_PREFIX}.>"], storage=api.StorageType.FILE,
            num_replicas=cfg.replicas, retention=api.RetentionPolicy.LIMITS,
            discard=api.DiscardPolicy.OLD, max_bytes=cfg.max_bytes, max_age=cfg.max_age_s,
            duplicate_window=DUPLICATE_WINDOW_S, allow_direct=True)
        deadline = asyncio.get_running_loop().time() + 30
        while True:
            try:
                try:
                    await self.js.stream_info(STREAM)
                    await self.js.update_stream(stream)
                except NotFoundError:
                    await self.js.add_stream(stream)
                return
            except NotFoundError:
                raise
            except Exception as exc:  # no JetStream leader yet while the cluster forms
                if asyncio.get_running_loop().time() > deadline:
                    raise ClusterError(f"JetStream stream {STREAM} (R={cfg.replicas}) could "
                                       f"not be created: {exc}") from None
                await asyncio.sleep(0.5)

    def subject(self, run_id: str) -> str:
        return f"{SUBJECT_PREFIX}.{partition(run_id, self.config.partitions)}"

    async def publish(self, batch: tpb.EventBatch, data: bytes) -> tuple[api.PubAck, bool]:
        """Store `data` in the stream; returns once JetStream acknowledged it (R copies),
        with whether an earlier attempt failed (then a `duplicate` ack may be our own).

        A NATS server dying or a stream leader election makes a publish fail for a few
        seconds: it is retried with the same Nats-Msg-Id (so never stored twice) for up to
        PUBLISH_RETRY_S before the producer is told to resend."""
        assert self.js is not None
        run_id = batch.events[0].run_id if batch.events else (
            batch.drops[0].run_id if batch.drops else "")
        headers = {"Nats-Msg-Id": message_id(batch, data)}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + PUBLISH_RETRY_S
        retried = False
        while True:
            try:
                ack = await self.js.publish(self.subject(run_id), data, stream=STREAM,
                                            headers=dict(headers))
                return ack, retried
            except Exception as exc:
                retried = True
                if loop.time() > deadline:
                    why = exc or type(exc).__name__
                    raise ClusterError(f"JetStream did not acknowledge the batch ({why})"
                                       ) from None
                await asyncio.sleep(0.2)

    async def last_seq(self) -> int:
        """The stream's last sequence: everything JetStream acknowledged so far."""
        assert self.js is not None
        try:
            info = await self.js.stream_info(STREAM)
        except Exception as exc:
            raise ClusterError(f"JetStream stream info failed ({exc or type(exc).__name__})"
                               ) from None
        return int(info.state.last_seq)

    async def close(self) -> None:
        if self.nc is not None:
            try:
                await asyncio.wait_for(self.nc.close(), 5)
            except Exception:  # closing a connection to a dead cluster: nothing to keep
                log.debug("closing the NATS connection failed", exc_info=True)
            self.nc = None


async def _quiet(exc: Exception) -> None:
    log.debug("nats: %s", exc)


async def _disconnected() -> None:
    log.warning("disconnected from the NATS cluster; reconnecting")


async def _reconnected() -> None:
    log.info("reconnected to the NATS cluster")
