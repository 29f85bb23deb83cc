"""Wires one sanctum: store, aggregator, ingest, fan-out, gRPC server, health, reflection.

`SanctumServer.start()` opens the store, binds (failing loudly on a port in use), starts
serving health as NOT_SERVING, replays the store, then switches to SERVING. `stop()` is
the graceful path: health NOT_SERVING, watch streams told to end, then `server.stop(grace)`
and the store flushed and closed.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from esper_common import logs
from sanctum_svc import reclaim
from sanctum_svc.aggregator import Aggregator
from sanctum_svc.alerts import AlertWebhook
from sanctum_svc.auth import BearerAuthInterceptor
from sanctum_svc.checkpointing import CheckpointPolicy, CheckpointScheduler
from sanctum_svc.config import MAX_RECEIVE_BYTES, MIN_PING_INTERVAL_MS, ServerConfig
from sanctum_svc.fanout import Fanout
from sanctum_svc.ingest import IngestPipeline
from sanctum_svc.limits import BoundedHealthServicer, connection_options, raise_fd_limit
from sanctum_svc.metrics import Metrics
from sanctum_svc.observe import ObservingInterceptor
from sanctum_svc.reflection import HEALTH, enable_reflection
from sanctum_svc.retired import RetiredServiceHandler
from sanctum_svc.run_admin import RetentionPolicy, RunAdmin
from sanctum_svc.servicer import SERVICE_NAME, SanctumServicer
from sanctum_svc.store import RECOVER_HINT, EventStore, StoreError, corrupt_error
from sanctum_svc.store_thread import AsyncStore

if TYPE_CHECKING:  # the `cluster` extra (nats-py) is imported only in cluster mode
    from sanctum_svc.cluster.node import ClusterNode

log = logging.getLogger(__name__)

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def _corrupt_summary(corrupt: dict[str, int]) -> str:
    return ", ".join(f"{n} {table} row{'s' if n != 1 else ''}" for table, n in corrupt.items())


class StartupError(Exception):
    """The server cannot start; the message tells the user why and what to do."""


def server_options(config: ServerConfig, fd_limit: int) -> list[tuple[str, int]]:
    """Documented channel args: fail on a busy port, keepalive policy, receive limit, and
    the connection limits of sanctum_svc.limits."""
    return [
        ("grpc.so_reuseport", 0),
        ("grpc.http2.min_ping_interval_without_data_ms", MIN_PING_INTERVAL_MS),
        ("grpc.http2.max_ping_strikes", 0),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.max_receive_message_length", MAX_RECEIVE_BYTES),
        *connection_options(config, fd_limit),
        *config.extra_options,
    ]


def server_credentials(config: ServerConfig) -> grpc.ServerCredentials | None:
    if config.tls_cert is None or config.tls_key is None:
        return None
    key = Path(config.tls_key).read_bytes()
    cert = Path(config.tls_cert).read_bytes()
    ca = Path(config.tls_client_ca).read_bytes() if config.tls_client_ca else None
    return grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=ca, require_client_auth=ca is not None)


def _progress_to_stderr(done: int, total: int) -> None:
    if total >= 50_000 and (done == total or done % 100_000 < 2000):
        logs.status("replay_progress", f"esper-sanctum: replaying store {done}/{total} events",
                    done=done, total=total)


class SanctumServer:
    """One running sanctum service."""

    def __init__(self, config: ServerConfig,
                 replay_progress: Callable[[int, int], None] | None = _progress_to_stderr,
                 on_bound: Callable[[SanctumServer], None] | None = None) -> None:
        self.config = config
        #: Called once the port is bound and health answers (NOT_SERVING until replayed).
        self.on_bound = on_bound
        self.replay_progress = replay_progress
        self.metrics = Metrics()
        self.aggregator = Aggregator(history_len=config.history_len,
                                     event_log_len=config.event_log_len,
                                     snapshot_budget=config.snapshot_budget)
        self.metrics.watch_runs(self.aggregator)
        self.alerts: AlertWebhook | None = None
        self.store = EventStore(config.store)
        self.port: int = 0
        self.metrics_port: int | None = None
        self.replayed = 0
        self._server: grpc.aio.Server | None = None
        self._astore: AsyncStore | None = None
        self.checkpoints: CheckpointScheduler | None = None
        self.admin: RunAdmin | None = None
        self.health = BoundedHealthServicer(config.max_health_watches)
        self.fanout: Fanout | None = None
        self.pipeline: IngestPipeline | None = None
        self.servicer: SanctumServicer | None = None
        #: Cluster mode only (config.cluster): the replicated log this replica follows.
        self.cluster: ClusterNode | None = None

    @property
    def address(self) -> str:
        return f"{self.config.host}:{self.port}"

    async def _set_health(self, status: int) -> None:
        for name in ("", SERVICE_NAME):
            await self.health.set(name, status)

    async def start(self) -> None:
        """Bind, replay the store, then serve. Raises StartupError with a clear message."""
        cfg = self.config
        try:
            self.store.open()
            self.store.commit([], [], [])  # proves the store is writable now
        except StoreError as exc:
            raise StartupError(f"{exc}. {exc.hint}.") from exc
        self._astore = AsyncStore(self.store)
        self.fanout = Fanout(self.aggregator, cfg, self.metrics)
        self.pipeline = IngestPipeline(self.aggregator, self._astore, self.metrics,
                                       on_change=self.fanout.notify, limits=cfg.limits)
        self.admin = RunAdmin(self.pipeline, self.store, lambda: self.checkpoints,
                              self.fanout.notify)
        self.servicer = SanctumServicer(self.aggregator, self.pipeline, self.fanout,
                                        cfg.refusal_delay_s, self.admin)

        reclaim.tune_malloc()  # large freed buffers go back to the OS (sanctum_svc.reclaim)
        interceptors: list[grpc.aio.ServerInterceptor] = [ObservingInterceptor(self.metrics.rpc)]
        if cfg.token:
            interceptors.append(BearerAuthInterceptor(cfg.token, cfg.read_token))
        options = server_options(cfg, raise_fd_limit())
        server = grpc.aio.server(options=options, interceptors=interceptors)
        server.add_generic_rpc_handlers((self.servicer.generic_handler(),
                                         RetiredServiceHandler()))
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        enable_reflection((SERVICE_NAME, HEALTH), server, cfg.token, cfg.read_token)
        await self._set_health(NOT_SERVING)
        self.port = self._bind(server)
        self.fanout.local_port = self.port
        self._server = server
        await server.start()
        if self.on_bound is not None:
            self.on_bound(self)
        if cfg.metrics_port is not None:
            try:
                self.metrics_port = self.metrics.serve(cfg.metrics_port, cfg.metrics_host)
            except OSError as exc:
                await self.stop(0)
                raise StartupError(f"--metrics-port {cfg.metrics_port}: {exc}") from exc

        try:
            self.replayed = await self._astore.call(self.pipeline.replay, self.store,
                                                    self.replay_progress, not cfg.replay_all)
        except sqlite3.DatabaseError as exc:  # damage quick_check did not see
            await self.stop(0)
            error = corrupt_error(self.store.path, str(exc))
            raise StartupError(f"{error}. {error.hint}.") from exc
        self._start_checkpoints()
        retention = RetentionPolicy(cfg.retain_days, cfg.retain_runs)
        if retention.enabled:
            removed = await self.admin.apply_retention(retention)
            if removed:
                log.info("retention deleted %d finished run(s)", removed)
            self.admin.start_retention(retention)
        if self.store.corrupt:
            self.metrics.store_corrupt.set(sum(self.store.corrupt.values()))
            log.error("store %s: %s skipped on replay (checksum mismatch: damaged, not "
                      "served): %s. %s", self.store.path, _corrupt_summary(self.store.corrupt),
                      ", ".join(self.store.corrupt_rows[:10]),
                      RECOVER_HINT.format(path=self.store.path))
        if cfg.alert_webhook:  # after replay: replayed edges are history, not alerts
            self.alerts = AlertWebhook(cfg.alert_webhook, self.metrics, self.aggregator)
            self.aggregator.on_finding = self.alerts.offer
            self.alerts.start()
        if cfg.cluster:
            await self._join_cluster()
        self.servicer.ready = True
        self.fanout.start()
        await self._set_health(SERVING)

    def _start_checkpoints(self) -> None:
        cfg, pipe = self.config, self.pipeline
        policy = CheckpointPolicy(cfg.checkpoint_every_events, cfg.checkpoint_every_s,
                                  cfg.checkpoint_keep)
        if self.store.in_memory or not policy.enabled or pipe is None or self._astore is None:
            return
        sched = self.checkpoints = CheckpointScheduler(pipe, self.store, self._astore, policy)
        sched.mark_restored(pipe.restored_events or 0)
        pipe.after_apply = sched.after_apply
        sched.after_apply()  # a store replayed in full gets its first checkpoint now

    async def _join_cluster(self) -> None:
        """Follow the replicated log: catch up, then take Ingest through it."""
        from sanctum_svc.cluster.log import ClusterError, LogConfig
        from sanctum_svc.cluster.node import ClusterNode

        assert self.pipeline is not None and self.servicer is not None
        cfg = self.config
        node = ClusterNode(LogConfig(cfg.cluster, cfg.cluster_replicas,
                                     checkpoint_every=cfg.cluster_checkpoint_every),
                           self.pipeline)
        try:
            self.replayed = await node.start()
        except ClusterError as exc:
            await self.stop(0)
            raise StartupError(str(exc)) from None
        self.cluster = node
        self.servicer.pipeline = node.pipeline
        self.servicer.history.unavailable = (
            "Series, Export and DeleteRun are not served in cluster mode yet: replicas apply "
            "the replicated log in memory and keep no series index; use a single-process "
            "sanctum (--store) for a run's whole history")

    def _bind(self, server: grpc.aio.Server) -> int:
        cfg = self.config
        creds = server_credentials(cfg)
        try:
            if creds is None:
                port = server.add_insecure_port(cfg.listen)
            else:
                port = server.add_secure_port(cfg.listen, creds)
        except RuntimeError as exc:
            raise StartupError(_bind_message(cfg, str(exc))) from None
        if not port:
            raise StartupError(_bind_message(cfg, "bind failed"))
        return port

    async def stop(self, grace: float | None = None) -> None:
        """Graceful stop: NOT_SERVING, end watch streams, finish calls, flush the store."""
        grace = self.config.grace_s if grace is None else grace
        await self.health.enter_graceful_shutdown()
        if self.alerts is not None:
            self.aggregator.on_finding = None
            await self.alerts.stop()
            self.alerts = None
        if self.fanout is not None:
            await self.fanout.close()
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None
        if self.admin is not None:
            await self.admin.close()
        if self.checkpoints is not None:
            await self.checkpoints.close()
            self.checkpoints = None
        if self.cluster is not None:
            await self.cluster.close()
            self.cluster = None
        if self._astore is not None:
            await self._astore.close()
            self._astore = None
        self.metrics.close()

    async def store_call(self, fn: Callable[..., object], *args: object) -> object:
        """Run fn(*args) on the store's thread (maintenance and fault-injection hooks)."""
        assert self._astore is not None, "server not started"
        return await self._astore.call(fn, *args)

    async def wait_for_termination(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()


def _bind_message(cfg: ServerConfig, why: str) -> str:
    tls = (f", or gRPC could not use --tls-cert {cfg.tls_cert} / --tls-key {cfg.tls_key}"
           if cfg.tls else "")
    return (f"cannot listen on {cfg.listen} ({why}): the port is probably in use by another "
            f"process (another esper-sanctum?){tls}. Stop it or choose another --listen port.")


async def serve(config: ServerConfig, ready: Callable[[SanctumServer], None] | None = None,
                bound: Callable[[SanctumServer], None] | None = None) -> None:
    """Run until SIGTERM/SIGINT, then shut down gracefully. `bound` is called once the port
    is bound (health answers NOT_SERVING), `ready` once the store is replayed (SERVING)."""
    import signal

    server = SanctumServer(config, on_bound=bound)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready(server)
    await stop.wait()
    log.info("shutting down")
    await server.stop()
