"""Fault injection for calibrating health rules: NaN loss / gradients at a chosen update,
entropy coefficient 0, an absurd learning rate. Short real-torch runs; every event they
emit must stay valid for sanctum (a NaN is reported as a count, never as a number)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from esper.telemetry.v1 import telemetry_pb2 as tpb
from sanctum_svc.validate import validate_batch
from tests.trainer.conftest import ListSink, tiny_config
from trainer_svc.cli import build_parser, config_from_args
from trainer_svc.train import BatchReport, Trainer

ET = tpb.EventType


def _run(**overrides: Any) -> tuple[ListSink, list[list[torch.Tensor]]]:
    """A tiny run; the policy's parameters after each batch."""
    sink = ListSink()
    params: list[list[torch.Tensor]] = []
    trainer: Trainer | None = None

    def snapshot(report: BatchReport) -> None:
        assert trainer is not None
        params.append([p.detach().clone() for p in trainer.policy.parameters()])

    trainer = Trainer(tiny_config(**overrides), sink, on_batch=snapshot)
    result = trainer.run()
    assert result.status == "completed"
    assert validate_batch(tpb.EventBatch(events=sink.events), lambda run_id: None) == []
    return sink, params


def _unchanged(before: list[torch.Tensor], after: list[torch.Tensor]) -> bool:
    return all(torch.equal(a, b) for a, b in zip(before, after, strict=True))


@pytest.mark.parametrize(("flag", "kind", "count_field"), [
    ("inject_nan_update", "nan-loss", "nonfinite_loss_count"),
    ("inject_nan_grad_update", "nan-grad", "nonfinite_grad_count"),
])
def test_nan_at_update_n_is_skipped_counted_and_reported(flag, kind, count_field) -> None:
    sink, params = _run(**{flag: 2})
    cfg = sink.of("training_started")[0].training_started.config
    assert list(cfg.fault_injections) == [f"{kind}@update2"]
    updates = [e.ppo_update for e in sink.of("ppo_update")]
    minibatches = 2 * 2  # ppo_epochs x n_minibatches of tiny_config
    assert [getattr(u, count_field) for u in updates] == [0, minibatches, 0]
    assert [u.optimizer_steps for u in updates] == [minibatches, 0, minibatches]
    poisoned = updates[1]
    # the forward pass was measured (entropy reads as itself, not as a collapse to 0.0);
    # nothing stepped, so the policy never moved (ratio 1, KL 0) and no gradient was kept
    assert poisoned.entropy > 1.0 and all(h.entropy > 0 for h in poisoned.heads)
    assert poisoned.kl_divergence == 0.0 and poisoned.clip_fraction == 0.0
    assert poisoned.total_layers == 0 and poisoned.pre_clip_grad_norm == 0.0
    assert _unchanged(params[0], params[1])  # the optimizer step was skipped...
    assert not _unchanged(params[1], params[2])  # ...and training goes on afterwards
    anomalies = [e for e in sink.of("anomaly")
                 if e.event_type == ET.EVENT_TYPE_NUMERICAL_INSTABILITY_DETECTED]
    assert len(anomalies) == 1 and anomalies[0].batch == 1
    assert anomalies[0].anomaly.value == minibatches


def test_dead_heads_at_update_n_read_as_bad_gradient_cv_in_sanctum() -> None:
    """Only the op head gets gradient at update 2: its CV is sqrt(8) and sanctum's band
    BAD, where the same run without the fault reads stable on every update."""
    import math

    from sanctum_svc.health.replay import replay

    clean, _ = _run(diagnostics_every=1)
    faulty, _ = _run(inject_dead_heads_update=2, diagnostics_every=1)
    cfg = faulty.of("training_started")[0].training_started.config
    assert list(cfg.fault_injections) == ["dead-heads@update2"]
    broken = faulty.of("ppo_update")[1].ppo_update
    assert [h.grad_norm > 0 for h in broken.heads] == [True] + [False] * 7
    assert broken.gradient_cv == pytest.approx(math.sqrt(8))
    assert [sorted(b.values()) for b in replay(clean.events).bands] == [["stable"]] * 3
    assert [sorted(b.values()) for b in replay(faulty.events).bands][:2] == [
        ["stable"], ["BAD"]]


def test_a_clean_run_declares_no_faults_and_skips_nothing() -> None:
    sink, _ = _run()
    assert not sink.of("training_started")[0].training_started.config.fault_injections
    for e in sink.of("ppo_update"):
        u = e.ppo_update
        assert (u.nonfinite_loss_count, u.nonfinite_grad_count) == (0, 0)
        assert u.optimizer_steps == 4


def test_entropy_coefficient_zero_over_a_run_is_expressible() -> None:
    ns = build_parser().parse_args(["--entropy-coef", "0", "--entropy-coef-end", "none"])
    cfg = config_from_args(ns)
    assert all(cfg.entropy_coef_at(n) == 0.0 for n in (0, cfg.episodes // 2, cfg.episodes))
    sink, _ = _run(entropy_coef=0.0, entropy_coef_end=None)
    anneal = sink.of("training_started")[0].training_started.config.entropy_anneal
    assert (anneal.kind, anneal.start, anneal.end) == (tpb.SCHEDULE_KIND_CONSTANT, 0.0, 0.0)
    assert [e.ppo_update.entropy_coef for e in sink.of("ppo_update")] == [0.0] * 3


def test_absurd_learning_rate_runs_and_stays_reportable() -> None:
    sink, _ = _run(lr=1e4)
    updates = [e.ppo_update for e in sink.of("ppo_update")]
    assert [u.lr for u in updates] == [1e4] * 3
    # what a health rule sees: exploding layers and gradients orders of magnitude too big
    assert all(u.exploding_layers > 0 for u in updates[1:])
    assert max(u.pre_clip_grad_norm for u in updates) > 1e3


def test_fault_flags_are_documented_as_testing_aids() -> None:
    text = build_parser().format_help()
    section = text[text.index("fault injection:"):]
    for flag in ("--inject-nan-update", "--inject-nan-grad-update"):
        assert flag in section
    assert "TESTING AID" in section and "--entropy-coef 0" in section
    ns = build_parser().parse_args(["--inject-nan-update", "3"])
    assert config_from_args(ns).inject_nan_update == 3
    with pytest.raises(Exception, match="inject-nan-update must be >= 1"):
        config_from_args(build_parser().parse_args(["--inject-nan-update", "0"]))
