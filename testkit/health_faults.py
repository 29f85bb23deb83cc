"""Constructed event sequences for the health rules: a healthy run with noise, and each
rule's fault injected into it. Calibration (bench/calibrate_health.py) and the health tests
replay them through a real aggregator (sanctum_svc.health.replay)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

from esper.telemetry.v1 import telemetry_pb2 as tpb
from testkit.events import HEAD_ACTIONS, Producer, run_config

GB = 16.0


def _healthy_fields(rng: random.Random, k: int) -> dict[str, Any]:
    """One update with the spread measured on default trainer runs."""
    clip = rng.uniform(0.1, 0.35)
    pos = clip * rng.uniform(0.3, 0.7)
    return {
        "policy_loss": rng.uniform(-0.05, 0.02), "value_loss": rng.uniform(0.03, 0.17),
        "entropy": rng.uniform(1.0, 1.4), "kl_divergence": rng.uniform(0.013, 0.06),
        "clip_fraction": clip, "clip_fraction_positive": pos,
        "clip_fraction_negative": clip - pos, "grad_norm": rng.uniform(0.3, 1.0),
        "pre_clip_grad_norm": rng.uniform(0.3, 4.0), "explained_variance": rng.uniform(0.7, 0.98),
        "dead_layers": 0, "exploding_layers": 0, "total_layers": 22,
        "fps": rng.uniform(84, 250), "step_time_ms": rng.uniform(4, 12), "update_index": k,
        "heads": [tpb.HeadMetrics(head=h, entropy=rng.uniform(0.4, 0.95) * math.log(n),
                                 grad_norm=0.1) for h, n in HEAD_ACTIONS.items()],
    }


def _card(germinate_valid: bool) -> tpb.DecisionCard:
    mask = 0b111111 if germinate_valid else 0b111101
    return tpb.DecisionCard(env_id=0, op=tpb.LIFECYCLE_OP_WAIT, heads=[
        tpb.HeadChoice(head=tpb.ACTION_HEAD_OP, action="WAIT", probability=0.5,
                       relevant=True, valid_mask=mask)])


Fault = Callable[[int, dict[str, Any]], None]


def run(seed: int = 0, updates: int = 60, fault_at: int | None = None,
        fault: Fault | None = None, *, gpu_used: Callable[[int], float] | None = None,
        decisions: Callable[[int], bool] | None = None, prunes: int = 0,
        fossils: int = 1) -> list[tpb.TelemetryEvent]:
    """Events of a run of `updates` PPO updates; from update `fault_at` on, `fault(k, fields)`
    edits each update's fields. `gpu_used(k)` adds vitals (of a 16 GB device),
    `decisions(k)` a decision card whose germinate action is valid or not; `prunes` and
    `fossils` seed outcomes are spread over the run."""
    rng = random.Random(seed)
    p = Producer(f"health-{seed}")
    p.started(heads=run_config().heads[:], n_envs=1)
    for i in range(fossils):
        p.make(tpb.EVENT_TYPE_SEED_FOSSILIZED, env_id=0, seed_fossilized=tpb.SeedFossilizedPayload(
            slot_id=f"r0c{i % 2}", blueprint_id="mlp"))
    for k in range(1, updates + 1):
        for _ in range(prunes // updates):
            p.make(tpb.EVENT_TYPE_SEED_PRUNED, env_id=0,
                   seed_pruned=tpb.SeedPrunedPayload(slot_id="r0c0", blueprint_id="mlp"))
        if decisions is not None:
            for _ in range(8):
                p.make(tpb.EVENT_TYPE_ANALYTICS_SNAPSHOT, env_id=0,
                       analytics_snapshot=tpb.AnalyticsSnapshotPayload(
                           decision=_card(decisions(k))))
        if gpu_used is not None:
            p.make(tpb.EVENT_TYPE_SYSTEM_VITALS, system_vitals=tpb.SystemVitalsPayload(
                cpu_percent=50, ram_used_gb=8, ram_total_gb=24, process_rss_gb=2,
                gpu_memory_used_gb=gpu_used(k), gpu_memory_total_gb=GB))
        fields = _healthy_fields(rng, k)
        if fault is not None and fault_at is not None and k >= fault_at:
            fault(k, fields)
        p.ppo(**fields)
    return p.events


def _set(**values: Any) -> Fault:
    def edit(_k: int, fields: dict[str, Any]) -> None:
        fields.update(values)
    return edit


def _collapse(_k: int, fields: dict[str, Any]) -> None:
    fields["heads"][0].entropy = 0.001


def _asymmetric(_k: int, fields: dict[str, Any]) -> None:
    fields.update(clip_fraction=0.6, clip_fraction_positive=0.58, clip_fraction_negative=0.02)


#: rule id -> (description, events in which the fault happens).
CONSTRUCTED: dict[str, tuple[str, Callable[[], list[tpb.TelemetryEvent]]]] = {
    "nonfinite": ("2 minibatches with NaN loss at update 30",
                  lambda: run(fault_at=30, fault=_set(nonfinite_loss_count=2))),
    "exploding_gradients": ("3 exploding layers from update 30",
                            lambda: run(fault_at=30, fault=_set(exploding_layers=3))),
    "dead_layers": ("20 of 22 layers without gradient from update 30",
                    lambda: run(fault_at=30, fault=_set(dead_layers=20))),
    "entropy_collapse": ("op head entropy 0.001 nats from update 30",
                         lambda: run(fault_at=30, fault=_collapse)),
    "kl_spike": ("KL 2.5 at update 40", lambda: run(fault_at=40, fault=lambda k, f: f.update(
        kl_divergence=2.5 if k == 40 else f["kl_divergence"]))),
    "explained_variance_collapse": ("explained variance -3 from update 30",
                                    lambda: run(fault_at=30, fault=_set(explained_variance=-3.0))),
    "clip_asymmetric": ("clip 60 %, 58 % on the positive side, from update 30",
                        lambda: run(fault_at=30, fault=_asymmetric)),
    "value_divergence": ("value loss 50 from update 30",
                         lambda: run(fault_at=30, fault=_set(value_loss=50.0))),
    "throughput_drop": ("fps 5 from update 30", lambda: run(fault_at=30, fault=_set(fps=5.0))),
    "cuda_memory_pressure": ("GPU 15.8 of 16 GB used from update 30",
                             lambda: run(gpu_used=lambda k: 15.8 if k >= 30 else 6.0)),
    "seeds_all_pruned": ("120 seeds pruned, none fossilized",
                         lambda: run(prunes=120, fossils=0)),
    "germination_blocked": ("germinate masked in every decision from update 20",
                            lambda: run(decisions=lambda k: k < 20)),
}
