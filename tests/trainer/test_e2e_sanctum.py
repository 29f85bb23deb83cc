"""End to end: `esper-trainer` streams to a real sanctum on loopback; a WatchSnapshots
subscriber sees every seed-checklist field populated with real values."""

from __future__ import annotations

import math
import threading
from typing import Any

import grpc
import pytest

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.telemetry.v1 import telemetry_pb2 as tpb
from testkit import ThreadedSanctum
from trainer_svc.actions import HEADS, SLOT_IDS
from trainer_svc.cli import main

TOKEN = "s3cret"
ARGS = dict(episodes=8, envs=2, seed=5, max_epochs=6)


class Watcher(threading.Thread):
    """Subscribes to a run's snapshots and keeps the latest until the run completes."""

    def __init__(self, server: ThreadedSanctum, run_id: str) -> None:
        super().__init__(daemon=True)
        self.server, self.run_id = server, run_id
        self.latest: spb.SanctumSnapshot | None = None
        self.count = 0
        self.completed = threading.Event()
        self.call = None

    def run(self) -> None:
        with self.server.channel(subscriber=True) as ch:
            self.call = self.server.stub(ch).WatchSnapshots(
                spb.WatchSnapshotsRequest(run_id=self.run_id, max_hz=20),
                metadata=self.server.metadata, timeout=120)
            try:
                for msg in self.call:
                    if msg.WhichOneof("kind") != "snapshot":
                        continue
                    self.latest, self.count = msg.snapshot, self.count + 1
                    if msg.snapshot.run.status == spb.RUN_STATUS_COMPLETED:
                        self.completed.set()
                        return
            except grpc.RpcError as err:
                if err.code() != grpc.StatusCode.CANCELLED:
                    raise


def _train_and_watch(run_id: str, tmp_path, *extra: str, min_snapshots: int = 2, **args: Any
                     ) -> spb.SanctumSnapshot:
    """Run esper-trainer against a real sanctum; the subscriber's final snapshot.

    `min_snapshots`: how many the subscriber must have seen (2 = it watched the run live; a
    run of a few episodes may end before a loaded machine delivers a first one)."""
    with ThreadedSanctum(token=TOKEN) as server:
        watcher = Watcher(server, run_id)
        watcher.start()
        argv = ["--sanctum", server.address, "--token", TOKEN, "--run-id", run_id, "--quiet",
                "--spool-dir", str(tmp_path), "--ppo-epochs", "2", *extra]
        for k, v in {**ARGS, **args}.items():
            argv += [f"--{k.replace('_', '-')}", str(v)]
        assert main(argv) == 0
        assert watcher.completed.wait(30), "subscription never showed the completed run"
        watcher.call.cancel()
        watcher.join(5)
    snap = watcher.latest
    assert snap is not None and watcher.count >= min_snapshots
    return snap


def test_training_run_populates_the_seed_checklist(restore_signals, tmp_path) -> None:
    snap = _train_and_watch("e2e-run", tmp_path, "--diagnostics-every", "1")

    cfg = snap.run.config
    assert (cfg.n_episodes, cfg.n_envs, cfg.seed, cfg.max_epochs) == (8, 2, 5, 6)
    assert cfg.ppo_epochs == 2 and list(cfg.slot_ids) == SLOT_IDS and cfg.world_size == 1
    run = snap.run
    assert run.status == spb.RUN_STATUS_COMPLETED and run.completion.status == "completed"
    assert run.last_batch.episodes_completed == 8 and run.last_batch.batch_idx == 3

    group = snap.tamiyo.groups[0]
    t = group.last_update
    assert group.HasField("last_update") and group.updates == 4
    n_actions = {h.head: h.n_actions for h in HEADS}
    assert {h.head for h in t.heads} == set(n_actions)
    for h in t.heads:
        assert 0.0 < h.entropy <= math.log(n_actions[h.head]) + 1e-6
        assert h.grad_norm > 0.0
    for frac in (t.clip_fraction, t.clip_fraction_positive, t.clip_fraction_negative):
        assert 0.0 <= frac <= 1.0
    assert t.HasField("gradient_cv") and t.gradient_cv >= 0
    assert group.last_measured.gradient_cv == t.gradient_cv
    assert not group.last_measured.HasField("cuda_memory_allocated_gb")  # CPU: "—", not 0.0
    assert t.total_layers > 0 and t.pre_clip_grad_norm > 0 and t.update_time_ms > 0
    assert t.lr == pytest.approx(cfg.lr) and t.entropy_coef > 0 and t.value_std > 0
    assert t.fps > 0 and t.step_time_ms > 0  # throughput
    assert (t.nonfinite_loss_count, t.nonfinite_grad_count) == (0, 0)
    assert t.optimizer_steps > 0 and not cfg.fault_injections
    assert snap.decisions.recent
    last = group.last_decision
    assert [c.head for c in last.heads] == [h.head for h in HEADS]  # all 8
    assert last.heads[0].relevant and last.heads[0].valid_mask

    assert len(snap.envs.envs) == 2
    for env in snap.envs.envs:
        assert env.env_id < 2 and set(env.seeds) <= set(SLOT_IDS)
    assert snap.lifecycle.germinated > 0
    assert snap.lifecycle.fossilized + snap.lifecycle.pruned > 0  # a lifecycle ran to its end
    series = {s.metric: list(s.values) for s in snap.histories.series}
    assert len(series["ppo_update.policy_loss"]) == 4
    assert len(series["batch_epoch_completed.avg_reward"]) == 4
    assert snap.vitals.ram_total_gb > 0 and snap.vitals.process_rss_gb > 0
    d = snap.delivery
    assert d.events_applied > 100 and d.gap_events == 0 and d.events_rejected == 0
    assert d.producer_dropped == 0
    types = {e.event_type for e in snap.event_log.entries}
    assert tpb.EVENT_TYPE_TRAINING_COMPLETED in types


def test_injected_nan_reaches_the_snapshot_as_counts(restore_signals, tmp_path) -> None:
    """A NaN loss at the last update: sanctum accepts every event (no NaN double crosses
    the wire) and shows the skipped minibatches and the declared fault."""
    snap = _train_and_watch("e2e-nan", tmp_path, "--inject-nan-update", "2", episodes=4,
                            min_snapshots=1)
    assert list(snap.run.config.fault_injections) == ["nan-loss@update2"]
    group = snap.tamiyo.groups[0]
    t = group.last_update
    assert group.updates == 2 and t.nonfinite_loss_count == 2 * 4 and t.optimizer_steps == 0
    assert snap.delivery.events_rejected == 0 and snap.run.status == spb.RUN_STATUS_COMPLETED
    types = {e.event_type for e in snap.event_log.entries}
    assert tpb.EVENT_TYPE_NUMERICAL_INSTABILITY_DETECTED in types
