"""Smoke training runs: the events they produce, determinism, telemetry-neutrality, stop."""

from __future__ import annotations

import math
import threading

import pytest
import torch

from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_client import NullTelemetry, TelemetryClient, TelemetryConfig
from esper_common.events import payload_matches
from sanctum_svc.validate import validate_batch
from tests.trainer.conftest import ListSink, tiny_config
from trainer_svc import ppo as ppo_module
from trainer_svc.actions import HEADS, OPS, RELEVANT, SLOT_IDS
from trainer_svc.train import Trainer

ET = tpb.EventType


@pytest.fixture(scope="module")
def smoke() -> tuple[ListSink, object]:
    sink = ListSink()
    result = Trainer(tiny_config(), sink).run()
    return sink, result


def test_smoke_events_are_valid_for_sanctum(smoke) -> None:
    sink, result = smoke
    assert result.status == "completed" and result.episodes_completed == 6
    assert all(payload_matches(e) for e in sink.events)
    assert validate_batch(tpb.EventBatch(events=sink.events), lambda run_id: None) == []
    first, last = sink.events[0], sink.events[-1]
    assert first.event_type == ET.EVENT_TYPE_TRAINING_STARTED
    assert last.event_type == ET.EVENT_TYPE_TRAINING_COMPLETED
    assert last.training_completed.status == "completed"
    cfg = first.training_started.config
    for e in sink.events:
        if e.HasField("env_id"):
            assert e.env_id < cfg.n_envs
    for e in sink.of("epoch_completed"):
        assert [s.slot_id for s in e.epoch_completed.seeds] == list(cfg.slot_ids)


def test_run_config_mirrors_the_settings(smoke) -> None:
    sink, _ = smoke
    started = sink.of("training_started")[0].training_started
    c = started.config
    assert started.rank == 0 and c.world_size == 1
    assert (c.seed, c.n_episodes, c.n_envs, c.max_epochs) == (3, 6, 2, 6)
    assert (c.ppo_epochs, c.n_minibatches) == (2, 2)
    assert list(c.slot_ids) == SLOT_IDS and len(c.blueprints) >= 4
    assert {(h.head, h.n_actions) for h in c.heads} == {(h.head, h.n_actions) for h in HEADS}
    assert c.entropy_anneal.kind == tpb.SCHEDULE_KIND_LINEAR and c.host_params > 0
    assert c.policy_device == "cpu" and list(c.env_devices) == ["cpu", "cpu"]
    assert not c.compile_enabled and c.compile_backend == ""


def test_every_batch_has_update_barrier_and_outcomes(smoke) -> None:
    sink, _ = smoke
    assert len(sink.of("batch_epoch_completed")) == 3
    assert len(sink.of("episode_outcome")) == 6
    assert len(sink.of("epoch_completed")) == 6 * 6
    assert sink.of("analytics_snapshot") and sink.of("system_vitals")
    barrier = sink.of("batch_epoch_completed")[-1].batch_epoch_completed
    assert barrier.episodes_completed == 6 and len(barrier.env_rewards) == 2


def test_ppo_update_metrics_are_real(smoke) -> None:
    sink, _ = smoke
    updates = [e.ppo_update for e in sink.of("ppo_update")]
    assert [u.update_index for u in updates] == [1, 2, 3]
    n_actions = {h.head: h.n_actions for h in HEADS}
    for u in updates:
        assert 0.0 <= u.clip_fraction <= 1.0
        assert 0.0 <= u.clip_fraction_positive <= 1.0 and 0.0 <= u.clip_fraction_negative <= 1.0
        assert u.clip_fraction == pytest.approx(
            u.clip_fraction_positive + u.clip_fraction_negative, abs=1e-6)
        assert {h.head for h in u.heads} == set(n_actions)
        for h in u.heads:
            assert 0.0 < h.entropy <= math.log(n_actions[h.head]) + 1e-6
            assert h.grad_norm >= 0.0
        assert u.total_layers > 0 and u.pre_clip_grad_norm > 0 and u.update_time_ms > 0
        assert u.ratio_min <= 1.0 <= u.ratio_max or u.ratio_min > 0
        assert u.value_std >= 0 and u.lr > 0 and u.entropy_coef > 0
        assert not u.HasField("cuda_memory_allocated_gb")  # CPU run: not measured
    # gradient CV sampled every 2 updates: updates 1 and 3 carry it, 2 does not
    assert [u.HasField("gradient_cv") for u in updates] == [True, False, True]
    assert all(u.gradient_cv >= 0 and math.isfinite(u.gradient_cv)
               for u in updates if u.HasField("gradient_cv"))


def test_rollout_throughput_is_reported_every_update(smoke) -> None:
    sink, _ = smoke
    n_envs = sink.of("training_started")[0].training_started.config.n_envs
    for e in sink.of("ppo_update"):
        u = e.ppo_update
        assert u.HasField("fps") and u.HasField("step_time_ms")
        assert u.fps > 0 and u.step_time_ms > 0
        # fps counts env steps: n_envs per lockstep step of step_time_ms
        assert u.fps * u.step_time_ms == pytest.approx(n_envs * 1000.0)


def test_decision_cards_carry_all_eight_heads_with_their_masks(smoke) -> None:
    sink, _ = smoke
    cards = [e.analytics_snapshot.decision for e in sink.of("analytics_snapshot")]
    assert cards
    labels = {h.head: h.labels for h in HEADS}
    for card in cards:
        assert [c.head for c in card.heads] == [h.head for h in HEADS]
        relevant = RELEVANT[card.op]
        masked = 0
        for c, h in zip(card.heads, HEADS, strict=True):
            assert c.relevant == (h.name in relevant)
            if c.relevant:
                chosen = labels[c.head].index(c.action)
                assert c.valid_mask >> chosen & 1  # the choice was valid
                assert 0 < c.valid_mask < 1 << h.n_actions
                masked += h.n_actions - bin(c.valid_mask).count("1")
            else:
                assert c.valid_mask == 0
        assert card.masked_actions == masked
    assert {card.op for card in cards} <= set(OPS)


def test_diagnostics_are_sampled_on_one_throttle(monkeypatch) -> None:
    """Gradient CV and CUDA memory on the same updates (1, 3, 5 with every 2), absent on the
    others. CUDA is not here: a stand-in collector reports what a GPU would."""
    calls: list[int] = []

    def collector(device: torch.device, into: tpb.PPOUpdatePayload) -> bool:
        calls.append(1)
        into.cuda_memory_allocated_gb, into.cuda_memory_reserved_gb = 1.0, 2.0
        into.cuda_memory_peak_gb, into.cuda_memory_fragmentation = 1.5, 0.5
        return True

    monkeypatch.setattr(ppo_module, "collect_cuda_memory_metrics", collector)
    sink = ListSink()
    Trainer(tiny_config(episodes=10, diagnostics_every=2), sink).run()
    updates = [e.ppo_update for e in sink.of("ppo_update")]
    sampled = [True, False, True, False, True]
    assert [u.HasField("gradient_cv") for u in updates] == sampled
    assert [u.HasField("cuda_memory_reserved_gb") for u in updates] == sampled
    assert len(calls) == 3


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_run_reports_memory_on_the_throttle_only() -> None:
    sink = ListSink()
    Trainer(tiny_config(device="cuda", diagnostics_every=2), sink).run()
    updates = [e.ppo_update for e in sink.of("ppo_update")]
    assert [u.HasField("cuda_memory_allocated_gb") for u in updates] == [True, False, True]
    assert all(u.cuda_memory_reserved_gb > 0 for u in updates[::2])


def test_lifecycle_events_reference_declared_slots(smoke) -> None:
    sink, _ = smoke
    germinated = sink.of("seed_germinated")
    assert germinated, "a near-uniform policy germinates within a few epochs"
    assert all(e.seed_germinated.slot_id in SLOT_IDS for e in germinated)
    assert all(e.seed_germinated.blueprint_id for e in germinated)
    for e in sink.of("seed_pruned"):
        assert e.seed_pruned.blueprint_id and e.seed_pruned.slot_id in SLOT_IDS


def _params(result) -> list[torch.Tensor]:
    return [p.detach().clone() for p in result.policy.parameters()]


def test_same_seed_same_result_and_telemetry_does_not_change_training(tmp_path) -> None:
    cfg = tiny_config(episodes=4, seed=11)
    with_list = Trainer(cfg, ListSink()).run()
    with_null = Trainer(tiny_config(episodes=4, seed=11), NullTelemetry()).run()
    disabled = ListSink()
    disabled.enabled = False  # type: ignore[attr-defined]  # as NullTelemetry: build nothing
    with_disabled = Trainer(tiny_config(episodes=4, seed=11), disabled).run()
    assert disabled.events == []
    client = TelemetryClient(TelemetryConfig(target=None, run_id="r", producer_id="p",
                                             file_path=str(tmp_path / "ev.events"),
                                             spool_dir=str(tmp_path / "spool")))
    client.start()
    with_client = Trainer(tiny_config(episodes=4, seed=11), client).run()
    client.close(10)
    assert client.stats()["emitted"] > 50
    for other in (with_null, with_disabled, with_client):
        assert other.batch_avg_rewards == with_list.batch_avg_rewards
        for a, b in zip(_params(with_list), _params(other), strict=True):
            assert torch.equal(a, b)
    different = Trainer(tiny_config(episodes=4, seed=12), NullTelemetry()).run()
    assert different.batch_avg_rewards != with_list.batch_avg_rewards


def test_stop_event_ends_run_as_interrupted() -> None:
    stop = threading.Event()
    sink = ListSink()

    def stop_after_first_batch(report) -> None:
        stop.set()

    result = Trainer(tiny_config(), sink, stop=stop, on_batch=stop_after_first_batch).run()
    assert result.status == "interrupted" and result.episodes_completed == 2
    done = sink.events[-1]
    assert done.training_completed.status == "interrupted"
    assert done.training_completed.total_episodes == 2


def test_compile_flag_is_reported_and_runs() -> None:
    """The eager backend exercises the torch.compile wrapper in seconds; inductor needs a C++
    toolchain and minutes on 2 cores, so it is not run here."""
    sink = ListSink()
    result = Trainer(tiny_config(episodes=2, compile=True, compile_backend="eager",
                                 compile_mode="default"), sink).run()
    c = sink.of("training_started")[0].training_started.config
    assert (c.compile_enabled, c.compile_backend, c.compile_mode) == (True, "eager", "default")
    assert result.status == "completed"


def test_bad_settings_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match="--envs must be >= 1"):
        Trainer(tiny_config(envs=0), ListSink())
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            Trainer(tiny_config(device="cuda"), ListSink())
