"""Per-step events captured on the training thread and built later (trainer_svc.capture):
the same events as when built at once, carriers that survive pickling, batched seed
gradient norms equal to the per-seed ones."""

from __future__ import annotations

import math
import pickle
import subprocess
import sys

import pytest
import torch

from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_client import TelemetryClient, TelemetryConfig
from esper_client.deferred import Deferred
from esper_common.eventfile import read_batches
from tests.trainer.conftest import tiny_config
from tests.trainer.test_env import act, blended_seed, make_env
from trainer_svc import capture, emit
from trainer_svc.env import seed_grad_norms
from trainer_svc.lifecycle import LifecycleRecord
from trainer_svc.task import make_task
from trainer_svc.train import Trainer

OP = tpb.LifecycleOp
S = tpb.SeedStage


class EagerSink:
    """emit() only: the loop builds every event itself."""

    enabled = True

    def __init__(self) -> None:
        self.events: list[tpb.TelemetryEvent] = []

    def emit(self, event: tpb.TelemetryEvent) -> None:
        self.events.append(event)


class DeferredSink(EagerSink):
    """Also takes carriers, as TelemetryClient does, and builds them only when asked."""

    def __init__(self) -> None:
        super().__init__()
        self.items: list[tpb.TelemetryEvent | Deferred] = []

    def emit(self, event: tpb.TelemetryEvent) -> None:
        self.items.append(event)

    def emit_deferred(self, item: Deferred) -> None:
        self.items.append(item)

    def built(self) -> list[tpb.TelemetryEvent]:
        return [i.build() if isinstance(i, Deferred) else i for i in self.items]


def _wire(events: list[tpb.TelemetryEvent]) -> list[bytes]:
    """Events as bytes, without what differs between two runs of the same seed (vitals'
    memory readings, wall times)."""
    out = []
    for e in events:
        if e.HasField("system_vitals") or e.HasField("memory_warning"):
            continue
        e = tpb.TelemetryEvent.FromString(e.SerializeToString())
        if e.HasField("training_completed"):
            e.training_completed.ClearField("wall_time_s")
        if e.HasField("ppo_update"):
            for name in ("update_time_ms", "fps", "step_time_ms"):
                e.ppo_update.ClearField(name)
        out.append(e.SerializeToString(deterministic=True))
    return out


RUN = dict(episodes=8, envs=4, seed=7, max_epochs=8, analytics_every=1)


@pytest.fixture(scope="module")
def runs() -> tuple[EagerSink, DeferredSink]:
    eager, deferred = EagerSink(), DeferredSink()
    Trainer(tiny_config(**RUN), eager).run()
    Trainer(tiny_config(**RUN), deferred).run()
    return eager, deferred


def test_deferred_events_equal_the_ones_built_at_once(runs) -> None:
    eager, deferred = runs
    carriers = [i for i in deferred.items if isinstance(i, Deferred)]
    kinds = {type(c) for c in carriers}
    assert kinds == {capture.EpochCompleted, capture.Lifecycle, capture.DecisionSnapshot}
    assert len(carriers) > len(deferred.items) * 0.8  # the per-step events are the bulk
    # built after the run: what they captured was copied, not read from live env state
    assert _wire(deferred.built()) == _wire(eager.events)
    for c in carriers:
        assert c.event_type == c.build().event_type


def test_the_telemetry_client_builds_the_same_events(runs, tmp_path) -> None:
    """Through a real TelemetryClient (its sender thread builds the carriers) to an event
    file: the same events, numbered in emit order."""
    eager, _ = runs
    path = tmp_path / "run.events"
    client = TelemetryClient(TelemetryConfig(target=None, run_id="r", producer_id="p",
                                             file_path=str(path),
                                             spool_dir=str(tmp_path / "spool")))
    client.start()
    Trainer(tiny_config(**RUN), client).run()
    client.close(10)
    stats = client.stats()
    assert stats["rejected"] == stats["invalid"] == 0 and stats["emitted"] > 300
    events = [e for b in read_batches(path) for e in b.events]
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    for e in events:  # what the client fills in, which the eager sink left unset
        for name in ("seq", "run_id", "producer_id", "timestamp"):
            e.ClearField(name)
    assert _wire(events) == _wire(eager.events)


def test_carriers_survive_pickling(runs) -> None:
    _, deferred = runs
    carriers = [i for i in deferred.items if isinstance(i, Deferred)]
    for i, c in enumerate(carriers):
        c.seq, c.emitted_ns = i + 1, 1_700_000_000_000_000_000 + i
    copies = pickle.loads(pickle.dumps(carriers, protocol=pickle.HIGHEST_PROTOCOL))
    for c, copy in zip(carriers, copies, strict=True):
        assert type(copy) is type(c) and copy.pool is None
        assert (copy.seq, copy.emitted_ns, copy.event_type) == (c.seq, c.emitted_ns,
                                                                c.event_type)
        assert copy.build() == c.build()
        assert copy.event().seq == c.seq


def test_every_lifecycle_kind_pickles_and_builds_as_before() -> None:
    records = [
        LifecycleRecord("germinated", "r0c0", "lora", "env0-seed1", params=128),
        LifecycleRecord("stage_changed", "r0c0", "lora", "env0-seed1",
                        from_stage=S.SEED_STAGE_BLENDING, to_stage=S.SEED_STAGE_HOLDING,
                        alpha=0.75),
        LifecycleRecord("gate", "r0c0", "lora", "env0-seed1", gate="G2", passed=False,
                        to_stage=S.SEED_STAGE_BLENDING, reason="trained 0 epoch(s)"),
        LifecycleRecord("fossilized", "r0c0", "lora", params=128, improvement=0.03,
                        epochs_total=7, counterfactual=0.01),
        LifecycleRecord("pruned", "r0c1", "mlp", from_stage=S.SEED_STAGE_TRAINING,
                        reason="controller pruned", improvement=-0.1, epochs_total=3),
    ]
    for rec in records:
        item = emit.capture_lifecycle(rec, env_id=2, epoch=5, episode=9, batch=1)
        event = item.build()
        assert event.event_type == item.event_type == capture.LIFECYCLE_TYPES[rec.kind]
        assert pickle.loads(pickle.dumps(item)).build() == event
        assert event == emit.lifecycle(rec, env_id=2, epoch=5, episode=9, batch=1)
        assert (event.env_id, event.epoch, event.episode, event.batch) == (2, 5, 9, 1)
    pruned = emit.capture_lifecycle(records[-1], env_id=0, epoch=0, episode=0, batch=0)
    assert not pruned.build().seed_pruned.HasField("counterfactual")  # unmeasured: absent
    with pytest.raises(ValueError, match="unknown lifecycle record kind"):
        emit.capture_lifecycle(LifecycleRecord("bogus", "r0c0", ""), env_id=0, epoch=0,
                               episode=0, batch=0)


def test_decision_capture_copies_its_rows() -> None:
    rows = dict(action_row=[1, 0, 2, 0, 0, 2, 0, 0],
                probs=[[0.5, 0.25, 0.25, 0.0]] * 8, entropies=[0.7] * 8,
                masks=[[True, True, False, True]] * 8, relevant=[1.0] * 6 + [0.0] * 2)
    item = emit.capture_decision(env_id=1, value=0.5, reward=None, epoch=3, episode=4,
                                 batch=0, **rows)
    before = item.build()
    rows["action_row"][0] = 0
    rows["probs"][1][0] = 0.9
    rows["masks"][0][0] = False
    assert item.build() == before
    card = before.analytics_snapshot.decision
    assert card.op == OP.LIFECYCLE_OP_GERMINATE and card.blueprint_id == "mlp_small"
    assert not card.HasField("reward") and card.heads[0].valid_mask == 0b1011
    assert pickle.loads(pickle.dumps(item)).build() == before


@pytest.fixture(scope="module")
def task():
    return make_task(0, n_train=256, n_val=128)


def test_batched_seed_grad_norms_match_the_per_seed_ones(task) -> None:
    a, b = make_env(task), make_env(task)
    for env, seeds in ((a, ((0, "mlp"), (1, "lora"))), (b, ((2, "norm"),))):
        for slot, bp in seeds:
            env.apply(act(OP.LIFECYCLE_OP_GERMINATE, slot=slot, bp=bp))
        env.host(env.x_val[:16], env.slots).sum().backward()
    b.apply(act(OP.LIFECYCLE_OP_GERMINATE, slot=0, bp="mlp_small"))  # built, no grads yet
    assert all(p.grad is None for p in b.seed_params(b.slots[0]))
    expected = [[e.seed_grad_norm(s) for s in e.slots] for e in (a, b)]
    got = seed_grad_norms([a, b])
    assert [[g is None for g in row] for row in got] == [[False, False, True],
                                                          [True, True, False]]
    assert [[g is None for g in row] for row in expected] == [[False, False, True],
                                                               [True, True, False]]
    for row_e, row_g in zip(expected, got, strict=True):
        for e, g in zip(row_e, row_g, strict=True):
            assert g == pytest.approx(e, rel=1e-5) and (g is None or g > 0.0)
    # a non-finite gradient leaves the norm unset, as the per-seed path did
    for bad, env, slot in ((math.inf, a, 0), (math.nan, a, 1), (-math.inf, b, 2)):
        next(iter(env.seed_params(env.slots[slot]))).grad.view(-1)[0] = bad
        assert not math.isfinite(env.seed_grad_norm(env.slots[slot]))
    assert seed_grad_norms([a, b]) == [[None, None, None], [None, None, None]]
    assert seed_grad_norms([]) == []


def straightforward_norms(env) -> list[float | None]:
    """Each slot's seed gradient norm computed plainly: the hypot of its parameters'
    gradient norms (listed from the module, one norm at a time), None without a seed, without
    gradients or when not finite."""
    out: list[float | None] = []
    for slot in env.slots:
        grads = [] if slot.module is None else [
            p.grad for p in slot.module.parameters() if p.grad is not None]
        norm = math.hypot(*[torch.linalg.vector_norm(g).item() for g in grads])
        out.append(norm if grads and math.isfinite(norm) else None)
    return out


def test_seed_grad_norms_equal_the_straightforward_ones_exactly(task) -> None:
    """Bit for bit, through germination, training, a prune and a reset (the seed lists are
    cached per env and must follow the slots)."""
    a, b = make_env(task), make_env(task)
    a.step(act(OP.LIFECYCLE_OP_GERMINATE, slot=0, bp="mlp"))
    b.apply(act(OP.LIFECYCLE_OP_GERMINATE, slot=2, bp="norm"))  # built, no grads yet
    assert seed_grad_norms([a, b]) == [straightforward_norms(a), straightforward_norms(b)]
    assert [g is None for g in seed_grad_norms([a, b])[0]] == [False, True, True]
    assert seed_grad_norms([a, b])[1] == [None, None, None]  # unmeasured, not 0.0
    a.step(act(OP.LIFECYCLE_OP_GERMINATE, slot=1, bp="lora"))
    b.step(act(OP.LIFECYCLE_OP_GERMINATE, slot=0, bp="mlp_small"))
    got = seed_grad_norms([a, b])
    assert got == [straightforward_norms(a), straightforward_norms(b)]
    assert [[g is None for g in row] for row in got] == [[False, False, True],
                                                          [False, True, False]]
    a.step(act(OP.LIFECYCLE_OP_PRUNE, slot=0))
    assert a.slots[0].module is None
    got = seed_grad_norms([a, b])
    assert got[0][0] is None and got[0][1] is not None
    assert got == [straightforward_norms(a), straightforward_norms(b)]
    b.reset()
    assert seed_grad_norms([a, b]) == [straightforward_norms(a), [None, None, None]]


def test_epoch_completed_reads_the_batched_norms(task) -> None:
    env = make_env(task)
    blended_seed(env, slot=1, bp="mlp")
    res = env.step(act(OP.LIFECYCLE_OP_WAIT))
    seeds = emit.epoch_completed(env, res, episode=0, batch=0).epoch_completed.seeds
    assert [s.HasField("grad_norm") for s in seeds] == [False, True, False]
    assert seeds[1].grad_norm == pytest.approx(env.seed_grad_norm(env.slots[1]), rel=1e-5)
    item = emit.capture_epoch_completed(env, res, episode=0, batch=0,
                                        grad_norms=seed_grad_norms([env])[0])
    expected = item.build()
    env.slots[1].alpha, env.slots[1].stage = 0.0, S.SEED_STAGE_PRUNED
    assert item.build() == expected  # the capture keeps what it saw


def test_a_new_carrier_has_every_field_of_a_new_deferred() -> None:
    """Captured sets Deferred's fields itself (one call less per event): all of them."""
    fresh, item = Deferred(), capture.Lifecycle(7, (1, 2))
    for name in Deferred.__slots__:
        expected = 7 if name == "event_type" else getattr(fresh, name)
        assert getattr(item, name) == expected, name
    assert item.values == (1, 2)


def test_capture_module_unpickles_without_torch() -> None:
    """A process that only builds carriers (the sender's) need not import torch."""
    code = ("import sys, trainer_svc.capture; "
            "sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0
