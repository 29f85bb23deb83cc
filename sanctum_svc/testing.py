"""Test and benchmark helpers: a real sanctum in a thread or a subprocess, and a factory
of realistic, valid event sequences.

    with ThreadedSanctum() as s:
        s.ingest(build_run_events("run-1"))
        snap = s.snapshot("run-1")
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Coroutine, Iterator, Sequence
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from esper.sanctum.v1 import sanctum_pb2 as spb
from esper.sanctum.v1 import sanctum_pb2_grpc
from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_common.channel import ChannelConfig, sync_channel
from sanctum_svc.config import ServerConfig
from sanctum_svc.server import SanctumServer

T = TypeVar("T")

LISTEN_LINE = "esper-sanctum listening on"


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (bind to 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def batches(events: Sequence[tpb.TelemetryEvent], size: int = 64,
            drops: Sequence[tpb.ProducerDrops] = ()) -> Iterator[spb.IngestRequest]:
    """IngestRequests of `size` events; drop reports ride on the last one."""
    for start in range(0, max(len(events), 1), size):
        req = spb.IngestRequest(batch=tpb.EventBatch(events=events[start:start + size]))
        if start + size >= len(events):
            req.batch.drops.extend(drops)
        yield req


class ThreadedSanctum:
    """A real sanctum server in a daemon thread with its own asyncio loop."""

    def __init__(self, *, store: str = ":memory:", token: str | None = None,
                 read_token: str | None = None, max_hz: float = 20.0, port: int = 0,
                 host: str = "127.0.0.1", **config_overrides: Any) -> None:
        config_overrides.setdefault("refusal_delay_s", 0.0)  # suites send many bad batches
        self.config = ServerConfig(listen=f"{host}:{port}", store=store, token=token,
                                   read_token=read_token, max_hz=max_hz, **config_overrides)
        self.config.check()
        self.server: SanctumServer | None = None
        self.address = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, timeout: float = 20.0) -> ThreadedSanctum:
        self._ready.clear()
        self._thread = threading.Thread(target=self._run, name="threaded-sanctum", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("sanctum did not start in time")
        if self._error is not None:
            raise self._error
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        self.server = SanctumServer(self.config, replay_progress=None)
        try:
            loop.run_until_complete(self.server.start())
            self.address = f"127.0.0.1:{self.server.port}" if self.config.host in (
                "127.0.0.1", "localhost", "0.0.0.0") else self.server.address
        except BaseException as exc:  # reported to the starting thread
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    def stop(self, grace: float = 1.0) -> None:
        if self._loop is None or self._thread is None or self.server is None:
            return
        if self._loop.is_running():
            with contextlib.suppress(Exception):
                self.call(self.server.stop(grace), timeout=grace + 15)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=15)
        self._thread = None

    def __enter__(self) -> ThreadedSanctum:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run a coroutine on the server's loop (for test hooks) and return its result."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def in_loop(self, fn: Any, *args: Any) -> Any:
        """Call a plain function on the server's loop thread (safe access to its state)."""

        async def wrapper() -> Any:
            return fn(*args)

        return self.call(wrapper())

    # -- client conveniences ----------------------------------------------------------------
    def channel_config(self, subscriber: bool = False, token: str | None = None) -> ChannelConfig:
        return ChannelConfig(self.address, token=token or self.config.token,
                             subscriber=subscriber)

    def channel(self, subscriber: bool = False, token: str | None = None) -> grpc.Channel:
        return sync_channel(self.channel_config(subscriber, token))

    def stub(self, channel: grpc.Channel) -> sanctum_pb2_grpc.SanctumServiceStub:
        return sanctum_pb2_grpc.SanctumServiceStub(channel)

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return self.channel_config().metadata()

    def ingest(self, events: Sequence[tpb.TelemetryEvent], batch_size: int = 64,
               drops: Sequence[tpb.ProducerDrops] = ()) -> spb.IngestResponse:
        """Stream `events` through Ingest in batches over a real channel."""
        with self.channel() as ch:
            return self.stub(ch).Ingest(batches(events, batch_size, drops),
                                        metadata=self.metadata, timeout=60)

    def snapshot(self, run_id: str = "") -> spb.SanctumSnapshot:
        with self.channel() as ch:
            return self.stub(ch).GetSnapshot(spb.GetSnapshotRequest(run_id=run_id),
                                             metadata=self.metadata, timeout=10).snapshot

    def cursor(self, run_id: str, producer_id: str = "") -> dict[str, int]:
        with self.channel() as ch:
            reply = self.stub(ch).GetResumeCursor(
                spb.GetResumeCursorRequest(run_id=run_id, producer_id=producer_id),
                metadata=self.metadata, timeout=10)
        return {c.producer_id: c.last_seq for c in reply.cursors}


class SanctumProcess:
    """`python -m sanctum_svc serve` as a subprocess, for kill -9 / restart tests.

    The port is picked once and kept across restarts, so clients reconnect to the same
    address.
    """

    def __init__(self, store: str, port: int | None = None,
                 extra_args: Sequence[str] = ()) -> None:
        self.store = store
        self.port = port or free_port()
        self.extra_args = list(extra_args)
        self.address = f"127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[str] | None = None
        self.output: list[str] = []

    def command(self) -> list[str]:
        return [sys.executable, "-m", "sanctum_svc", "serve", "--listen", self.address,
                "--store", self.store, *self.extra_args]

    def start(self, timeout: float = 15) -> None:
        """Start and wait for the listening line (the server is SERVING by then)."""
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(self.command(), stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, env=env)
        listening = threading.Event()
        threading.Thread(target=self._pump, args=(self.proc, listening), daemon=True).start()
        deadline = time.monotonic() + timeout
        while not listening.wait(0.1):
            if self.proc.poll() is not None:
                time.sleep(0.2)  # let the pump collect the last words
                raise RuntimeError(f"sanctum exited with {self.proc.returncode}: "
                                   f"{''.join(self.output)}")
            if time.monotonic() > deadline:
                self.kill()
                raise TimeoutError(f"sanctum did not report listening in {timeout} s: "
                                   f"{''.join(self.output)}")

    def _pump(self, proc: subprocess.Popen[str], listening: threading.Event) -> None:
        """Collect the child's output; flag the listening line."""
        assert proc.stdout is not None
        with contextlib.suppress(ValueError, OSError):
            for line in proc.stdout:
                self.output.append(line)
                if line.startswith(LISTEN_LINE):
                    listening.set()

    def health(self, timeout: float = 2.0) -> int:
        with grpc.insecure_channel(self.address) as ch:
            return health_pb2_grpc.HealthStub(ch).Check(
                health_pb2.HealthCheckRequest(), timeout=timeout).status

    def kill(self) -> None:
        """SIGKILL: no shutdown path runs (a crash)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def terminate(self, timeout: float = 10) -> int:
        """SIGTERM and wait; returns the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return int(self.proc.returncode)

    def __enter__(self) -> SanctumProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


# ---------------------------------------------------------------------------------- events

SLOT_IDS = ("r0c0", "r0c1", "r1c0")
HEAD_ACTIONS = {
    tpb.ACTION_HEAD_OP: 6, tpb.ACTION_HEAD_SLOT: 3, tpb.ACTION_HEAD_BLUEPRINT: 8,
    tpb.ACTION_HEAD_STYLE: 4, tpb.ACTION_HEAD_TEMPO: 3, tpb.ACTION_HEAD_ALPHA_TARGET: 4,
    tpb.ACTION_HEAD_ALPHA_SPEED: 3, tpb.ACTION_HEAD_ALPHA_CURVE: 3,
}
BLUEPRINTS = ("conv_light", "attention", "norm", "depthwise", "bottleneck", "lora",
              "mlp_small", "mlp")
BASE_TIME = 1_700_000_000.0


class _Seq:
    """Envelope factory with consecutive seq per producer and deterministic timestamps."""

    def __init__(self, run_id: str, producer_id: str, start_seq: int, group_id: str) -> None:
        self.run_id, self.producer_id, self.group_id = run_id, producer_id, group_id
        self.seq = start_seq
        self.events: list[tpb.TelemetryEvent] = []

    def emit(self, event_type: int, severity: int = tpb.SEVERITY_INFO, **fields: Any
             ) -> tpb.TelemetryEvent:
        ev = tpb.TelemetryEvent(run_id=self.run_id, producer_id=self.producer_id, seq=self.seq,
                                event_type=event_type, severity=severity,
                                group_id=self.group_id, **fields)
        ev.timestamp.FromNanoseconds(int((BASE_TIME + self.seq * 0.01) * 1e9))
        self.seq += 1
        self.events.append(ev)
        return ev


def run_config(n_envs: int = 2, slot_ids: Sequence[str] = SLOT_IDS, seed: int | None = 42,
               n_episodes: int = 100, compile_enabled: bool = True) -> tpb.RunConfig:
    cfg = tpb.RunConfig(
        n_episodes=n_episodes, lr=3e-4, clip_ratio=0.2, entropy_coef=0.01,
        param_budget=500_000, entropy_anneal=tpb.EntropyAnneal(
            kind=tpb.SCHEDULE_KIND_LINEAR, start=0.05, end=0.01, anneal_episodes=80),
        n_envs=n_envs, max_epochs=25, task="cifar10", host_params=1_200_000,
        slot_ids=list(slot_ids), policy_device="cpu", env_devices=["cpu"] * n_envs,
        reward_mode="shaped", compile_enabled=compile_enabled,
        compile_backend="inductor" if compile_enabled else "",
        compile_mode="default" if compile_enabled else "",
        heads=[tpb.HeadSpec(head=h, n_actions=n) for h, n in HEAD_ACTIONS.items()],
        blueprints=list(BLUEPRINTS), ppo_epochs=4, n_minibatches=4, gamma=0.99,
        gae_lambda=0.95, world_size=1)
    if seed is not None:
        cfg.seed = seed
    return cfg


def ppo_payload(update: int, cuda_memory: tuple[float, float] | None,
                measure_cv: bool) -> tpb.PPOUpdatePayload:
    k = update + 1
    p = tpb.PPOUpdatePayload(
        policy_loss=-0.02 / k, value_loss=0.5 / k, entropy=1.2 - 0.01 * k,
        kl_divergence=0.01, clip_fraction=0.15, clip_fraction_positive=0.10,
        clip_fraction_negative=0.05, grad_norm=0.8, pre_clip_grad_norm=1.3,
        explained_variance=0.3 + 0.05 * k, value_mean=1.5, value_std=0.4, value_min=0.2,
        value_max=3.1, advantage_mean=0.0, advantage_std=1.0, ratio_min=0.7, ratio_max=1.4,
        dead_layers=1, exploding_layers=0, total_layers=12, inner_epoch=4, batch=4,
        update_time_ms=85.0, lr=3e-4, entropy_coef=0.01, update_index=k, fps=812.5,
        step_time_ms=4.9, optimizer_steps=16,
        heads=[tpb.HeadMetrics(head=h, entropy=0.5 + 0.1 * h, grad_norm=0.05 * h)
               for h in HEAD_ACTIONS])
    if measure_cv:
        p.gradient_cv = 0.42
    if cuda_memory is not None:
        allocated, reserved = cuda_memory
        p.cuda_memory_allocated_gb = allocated
        p.cuda_memory_reserved_gb = reserved
        p.cuda_memory_peak_gb = allocated * 1.2
        p.cuda_memory_fragmentation = 1 - allocated / reserved
    return p


def build_run_events(run_id: str = "run-1", producer_id: str = "trainer-0", *,
                     n_batches: int = 2, epochs_per_batch: int = 2, start_seq: int = 1,
                     n_envs: int = 2, slot_ids: Sequence[str] = SLOT_IDS,
                     seed: int | None = 42, group_id: str = "",
                     cuda_memory: tuple[float, float] | None = (4.2, 8.0),
                     compile_enabled: bool = True, completed: bool = False,
                     ) -> list[tpb.TelemetryEvent]:
    """A realistic valid run: TRAINING_STARTED (3 slots, 2 envs, 8 heads), epochs, PPO
    updates, batches, a seed that fossilizes (env 0, r0c0, conv_light) and a culled seed
    (env 1, r0c1, attention), decision cards and vitals; seq consecutive from start_seq.

    Values the UI tests look for: clip ±10%/5%, CUDA memory 4.2/8.0 GB (when given),
    gradient CV 0.42 on even updates.
    """
    e = _Seq(run_id, producer_id, start_seq, group_id)
    cfg = run_config(n_envs, slot_ids, seed, compile_enabled=compile_enabled)
    e.emit(tpb.EVENT_TYPE_TRAINING_STARTED,
           training_started=tpb.TrainingStartedPayload(config=cfg))
    slots = list(slot_ids)
    fossil_env, cull_env = 0, min(1, n_envs - 1)
    fossil_slot, cull_slot = slots[0], slots[1 % len(slots)]
    e.emit(tpb.EVENT_TYPE_SEED_GERMINATED, env_id=fossil_env, epoch=0,
           seed_germinated=tpb.SeedGerminatedPayload(
               slot_id=fossil_slot, blueprint_id="conv_light", seed_id="seed-a", params=12_000))
    e.emit(tpb.EVENT_TYPE_SEED_GERMINATED, env_id=cull_env, epoch=0,
           seed_germinated=tpb.SeedGerminatedPayload(
               slot_id=cull_slot, blueprint_id="attention", seed_id="seed-b", params=30_000))
    stages = {fossil_env: tpb.SEED_STAGE_GERMINATED, cull_env: tpb.SEED_STAGE_GERMINATED}
    epoch = 0
    episodes = 0
    for b in range(n_batches):
        for _ in range(epochs_per_batch):
            epoch += 1
            for env in range(n_envs):
                seeds = []
                if env == fossil_env:
                    seeds.append(tpb.SeedTelemetry(
                        slot_id=fossil_slot, stage=stages[fossil_env], blueprint_id="conv_light",
                        seed_id="seed-a", alpha=min(1.0, 0.2 * epoch),
                        accuracy_delta=0.01 * epoch, epochs_in_stage=1, params=12_000,
                        grad_norm=0.3))
                e.emit(tpb.EVENT_TYPE_EPOCH_COMPLETED, env_id=env, epoch=epoch, episode=episodes,
                       batch=b, epoch_completed=tpb.EpochCompletedPayload(
                           val_accuracy=0.5 + 0.01 * epoch + 0.005 * env, val_loss=1.0 / epoch,
                           train_loss=1.1 / epoch, reward=0.1 * epoch - 0.02 * env,
                           host_params=1_200_000, seeds=seeds))
        if b == 0:
            e.emit(tpb.EVENT_TYPE_SEED_GATE_EVALUATED, env_id=fossil_env, epoch=epoch,
                   seed_gate_evaluated=tpb.SeedGateEvaluatedPayload(
                       slot_id=fossil_slot, gate="G1", passed=True,
                       target_stage=tpb.SEED_STAGE_TRAINING, reason="gradient healthy"))
            e.emit(tpb.EVENT_TYPE_SEED_STAGE_CHANGED, env_id=fossil_env, epoch=epoch,
                   seed_stage_changed=tpb.SeedStageChangedPayload(
                       slot_id=fossil_slot, from_stage=tpb.SEED_STAGE_GERMINATED,
                       to_stage=tpb.SEED_STAGE_TRAINING, blueprint_id="conv_light", alpha=0.0))
            stages[fossil_env] = tpb.SEED_STAGE_TRAINING
        if b == n_batches - 1:
            e.emit(tpb.EVENT_TYPE_SEED_FOSSILIZED, env_id=fossil_env, epoch=epoch,
                   seed_fossilized=tpb.SeedFossilizedPayload(
                       slot_id=fossil_slot, blueprint_id="conv_light", params_added=12_000,
                       improvement=0.031, epochs_total=epoch, counterfactual=0.0125))
            e.emit(tpb.EVENT_TYPE_SEED_CULLED, severity=tpb.SEVERITY_WARNING, env_id=cull_env,
                   epoch=epoch, seed_pruned=tpb.SeedPrunedPayload(
                       slot_id=cull_slot, blueprint_id="attention", reason="no improvement",
                       improvement=-0.004, epochs_total=epoch,
                       from_stage=tpb.SEED_STAGE_GERMINATED))
        for env in range(n_envs):
            e.emit(tpb.EVENT_TYPE_ANALYTICS_SNAPSHOT, env_id=env, epoch=epoch,
                   analytics_snapshot=tpb.AnalyticsSnapshotPayload(decision=tpb.DecisionCard(
                       env_id=env, op=tpb.LIFECYCLE_OP_WAIT, value_estimate=1.2, epoch=epoch,
                       reward=0.05, heads=[tpb.HeadChoice(head=tpb.ACTION_HEAD_OP,
                                                          action="WAIT", probability=0.7,
                                                          entropy=0.9)])))
        episodes += n_envs
        rewards = [0.1 * epoch - 0.02 * env for env in range(n_envs)]
        accs = [0.5 + 0.01 * epoch + 0.005 * env for env in range(n_envs)]
        e.emit(tpb.EVENT_TYPE_BATCH_EPOCH_COMPLETED, batch=b, episode=episodes,
               batch_epoch_completed=tpb.BatchEpochCompletedPayload(
                   avg_accuracy=sum(accs) / n_envs, avg_reward=sum(rewards) / n_envs,
                   total_episodes=cfg.n_episodes, episodes_completed=episodes, batch_idx=b,
                   rolling_accuracy=sum(accs) / n_envs, env_accuracies=accs,
                   env_rewards=rewards))
        e.emit(tpb.EVENT_TYPE_PPO_UPDATE_COMPLETED, batch=b, episode=episodes,
               ppo_update=ppo_payload(b, cuda_memory, measure_cv=b % 2 == 0))
        e.emit(tpb.EVENT_TYPE_SYSTEM_VITALS, system_vitals=tpb.SystemVitalsPayload(
            cpu_percent=55.0, ram_used_gb=6.5, ram_total_gb=16.0, process_rss_gb=1.1))
    if completed:
        e.emit(tpb.EVENT_TYPE_TRAINING_COMPLETED, training_completed=tpb.TrainingCompletedPayload(
            total_episodes=episodes, final_accuracy=0.6, final_avg_reward=0.3, wall_time_s=12.0,
            status="completed"))
    return e.events


def comparable(snapshot: spb.SanctumSnapshot) -> spb.SanctumSnapshot:
    """A copy without time- and version-dependent fields, for before/after comparisons."""
    out = spb.SanctumSnapshot()
    out.CopyFrom(snapshot)
    for name in ("generated_at", "liveness", "seconds_since_last_event", "version",
                 "last_event_time", "started_at", "episodes_per_second"):
        out.ClearField(name)
    return out
