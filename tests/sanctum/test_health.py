"""Sanctum's health model: every rule fires on its constructed fault and stays quiet on
healthy sequences, through a real aggregator; hysteresis, warm-up, stall, and the findings
in a real server's snapshot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import pytest

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.sanctum.v2 import sanctum_pb2_grpc as spb_grpc
from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_common.health_rules import BY_ID, RULES, WARMUP_UPDATES, markdown_table
from sanctum_svc.aggregator import RunAggregator
from sanctum_svc.health.replay import replay
from testkit import health_faults
from testkit.events import Producer
from testkit.servers import ThreadedSanctum, batches


def test_every_rule_has_a_constructed_fault_or_a_real_one() -> None:
    real = {"stall"}  # time-based: tested below and in the calibration (SIGSTOP)
    assert set(health_faults.CONSTRUCTED) | real == {r.id for r in RULES}


@pytest.mark.parametrize("rule_id", sorted(health_faults.CONSTRUCTED))
def test_fault_fires_its_rule_and_only_after_it(rule_id: str) -> None:
    _what, build = health_faults.CONSTRUCTED[rule_id]
    r = replay(build())
    assert r.ever(rule_id), rule_id
    assert r.fired[WARMUP_UPDATES + 2] == frozenset()  # before the fault: quiet


@pytest.mark.parametrize("seed", range(5))
def test_healthy_sequences_stay_ok(seed: int) -> None:
    r = replay(health_faults.run(seed=seed, updates=80, gpu_used=lambda k: 6.0,
                                 decisions=lambda k: True, prunes=80))
    assert r.ok_rate() == 1.0 and not any(r.fired)
    assert r.statuses[0] == spb.HEALTH_STATUS_WARMUP


def test_warmup_hides_warnings_but_not_criticals() -> None:
    early_ev = replay(health_faults.run(fault_at=1, fault=lambda k, f: f.update(
        explained_variance=-3.0), updates=WARMUP_UPDATES))
    assert not early_ev.ever("explained_variance_collapse")
    early_nan = replay(health_faults.run(fault_at=2, fault=lambda k, f: f.update(
        nonfinite_grad_count=1), updates=3))
    assert early_nan.fired[1] == {"nonfinite"}
    assert early_nan.last.status == spb.HEALTH_STATUS_CRITICAL


def test_one_noisy_update_does_not_flip_and_a_finding_clears_after_hysteresis() -> None:
    rule = BY_ID["clip_asymmetric"]
    once = replay(health_faults.run(fault_at=30, updates=40, fault=lambda k, f: f.update(
        clip_fraction=0.6, clip_fraction_positive=0.6, clip_fraction_negative=0.0)
        if k == 30 else None))
    assert not once.ever("clip_asymmetric")
    expl = BY_ID["exploding_gradients"]
    r = replay(health_faults.run(fault_at=30, updates=45, fault=lambda k, f: f.update(
        exploding_layers=2) if k < 33 else None))
    on = [i for i, f in enumerate(r.fired) if "exploding_gradients" in f]
    assert on[0] == 29  # rises on the update that caused it (rise_after 1)
    assert len(on) == 3 + expl.clear_after - 1  # held until clear_after good updates
    assert rule.rise_after > 1


def test_finding_carries_rule_values_and_since() -> None:
    def collapse_blueprint(_k: int, fields: dict[str, Any]) -> None:
        fields["heads"][2].entropy = 0.0001

    r = replay(health_faults.run(fault_at=30, fault=collapse_blueprint))
    f = next(x for x in r.last.findings if x.rule_id == "entropy_collapse")
    assert f.head == tpb.ACTION_HEAD_BLUEPRINT and f.severity == tpb.SEVERITY_CRITICAL
    assert f.threshold == BY_ID["entropy_collapse"].critical and f.observed < 0.01
    assert f.since_update == 30 + BY_ID["entropy_collapse"].rise_after - 1
    assert f.metric == "ppo_update.entropy" and "blueprint" in f.message
    assert f.since.seconds > 0


def test_stall_rises_with_silence_and_not_after_the_run_ended() -> None:
    p = Producer("stall-run")
    p.started()
    p.ppo()
    run = RunAggregator("stall-run")
    for e in p.events:
        run.apply(e, 1000.0)
    warn, crit = BY_ID["stall"].warning, BY_ID["stall"].critical
    assert warn is not None and crit is not None
    assert not run.snapshot(1000.0 + warn - 1).health.findings
    f = run.snapshot(1000.0 + warn + 1).health.findings
    assert [(x.rule_id, x.severity) for x in f] == [("stall", tpb.SEVERITY_WARNING)]
    f = run.snapshot(1000.0 + crit + 1).health.findings
    assert [(x.rule_id, x.severity) for x in f] == [("stall", tpb.SEVERITY_CRITICAL)]
    run.apply(p.make(tpb.EVENT_TYPE_TRAINING_COMPLETED, training_completed=tpb.
                     TrainingCompletedPayload(status="completed")), 1200.0)
    assert not run.snapshot(5000.0).health.findings  # an ended run is silent on purpose


def test_server_snapshot_carries_typed_findings() -> None:
    events = health_faults.run(fault_at=30, fault=lambda k, f: f.update(exploding_layers=2))
    server = ThreadedSanctum().start()
    try:
        with grpc.insecure_channel(server.address) as ch:
            stub = spb_grpc.SanctumServiceStub(ch)
            stub.Ingest(batches(events), timeout=30)
            snap = stub.GetSnapshot(spb.GetSnapshotRequest(run_id=events[0].run_id),
                                    timeout=10).snapshot
    finally:
        server.stop()
    h = snap.health
    assert h.status == spb.HEALTH_STATUS_CRITICAL and h.evaluated_updates == 60
    f = h.findings[0]
    assert (f.rule_id, f.severity, f.observed, f.threshold) == (
        "exploding_gradients", tpb.SEVERITY_CRITICAL, 2.0, 0.0)
    assert f.since_update == 30 and f.metric == "ppo_update.pre_clip_grad_norm"


def test_readme_table_is_the_rule_table() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert markdown_table() in readme
