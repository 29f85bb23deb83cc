"""Files the importer has not seen: unknown event types, bare NaN, a malformed line, two
runs appended, two policy groups, integers past int64, events that contradict the run's
declared shape. Each is counted and reported; the import never fails for them."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import pytest

from esper.sanctum.v2 import sanctum_pb2 as spb
from testkit import ThreadedSanctum
from tests.bridge.original import FIXTURE, Record, of, records, run_import, write

pytestmark = pytest.mark.slow


def clone(rec: Record, envelope: dict[str, Any] | None = None, **data: Any) -> Record:
    out = copy.deepcopy(rec)
    out.update(envelope or {})
    out["data"].update(data)
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A file of two runs, the first an A/B run, with every oddity above; and what the test
    knows about it (line numbers, ids)."""
    recs = records(FIXTURE)
    start = of(recs, "TRAINING_STARTED")[0]
    epoch = of(recs, "EPOCH_COMPLETED", env_id=0)[0]
    decision = of(recs, "ANALYTICS_SNAPSHOT[kind=last_action]", env_id=0)[0]
    germinated = of(recs, "SEED_GERMINATED")[0]
    changed = of(recs, "SEED_STAGE_CHANGED")[0]
    fossilized = of(recs, "SEED_FOSSILIZED")[0]
    ppo = of(recs, "PPO_UPDATE_COMPLETED")[0]
    a, b = {"group_id": "A"}, {"group_id": "B"}
    lines: list[Record | str] = [
        clone(start, {"group_id": "A", "event_id": "aaaa1111-x"}, episode_id="ab_test"),
        clone(epoch, a, val_loss=math.nan),
        clone(decision, a),
        {"event_id": "g1", "event_type": "GOVERNOR_ROLLBACK", "timestamp": "2026-01-01T00:00:00",
         "group_id": "A", "data": {"reason": "loss spike", "loss_at_panic": math.inf}},
        '{"event_id": "x", "event_type": "EPOCH_COMPLETED", "data": {"env_id": 0, "val_',
        "[1, 2, 3]",
        clone(start, {"group_id": "B", "event_id": "bbbb2222-x"}, episode_id="ab_test"),
        clone(epoch, b, val_accuracy=55.0),
        clone(decision, b, total_reward=0.25),
        clone(germinated, b, rng_seed=2**64 - 1),
        clone(epoch, a, env_id=99),
        clone(changed, a, slot_id="r9c9"),
        clone(ppo, a, policy_loss=math.nan, grad_norm=math.inf),
        clone(fossilized, a, epochs_total=2**40),
        {"event_type": "SOMETHING_NEW", "data": None},
        clone(start, {"group_id": "default", "event_id": "cccc3333-x"},
              episode_id="second run", seed=2**64 - 5, n_envs=2),
        clone(epoch, {"group_id": "default"}, env_id=1, val_accuracy=42.0),
    ]
    path = write(tmp_path_factory.mktemp("hostile") / "appended.jsonl", lines)
    return path, {"malformed_line": 5, "not_object_line": 6}


@pytest.fixture(scope="module")
def imported(built) -> Any:
    path, facts = built
    with ThreadedSanctum() as server:
        done = run_import(path, server.address)
        assert done.returncode == 0, done.stderr + done.stdout
        yield server, done.stdout, facts


def test_two_appended_runs_are_two_runs(imported) -> None:
    server, out, _ = imported
    runs = server.stub(server.channel()).ListRuns(spb.ListRunsRequest(),
                                                  metadata=server.metadata).runs
    assert sorted(r.run_id for r in runs) == ["ab_test-aaaa1111", "second-run-cccc3333"]
    assert "runs: ab_test-aaaa1111, second-run-cccc3333" in out
    second = server.snapshot("second-run-cccc3333")
    assert second.run.config.n_envs == 2
    assert [(e.env_id, round(e.last_epoch.val_accuracy, 6)) for e in second.envs.envs] == [
        (1, 0.42)]


def test_ab_groups_share_their_run(imported) -> None:
    server, _, _ = imported
    snap = server.snapshot("ab_test-aaaa1111")
    groups = [g.group_id for g in snap.tamiyo.groups]
    assert sorted(groups) == ["A", "B"]
    envs = {(e.group_id, e.env_id): e for e in snap.envs.envs}
    assert sorted(envs) == [("A", 0), ("B", 0)]
    assert envs["B", 0].last_epoch.val_accuracy == pytest.approx(0.55)
    assert envs["B", 0].last_epoch.reward == pytest.approx(0.25)  # paired from B's own decision
    b = next(g for g in snap.tamiyo.groups if g.group_id == "B")
    assert b.last_decision.group_id == "B" and b.last_decision.reward == pytest.approx(0.25)
    assert envs["B", 0].seeds  # the germinated seed with its rng_seed past int64


def test_bad_lines_are_reported_with_their_number(imported) -> None:
    _, out, facts = imported
    assert f"malformed line {facts['malformed_line']} skipped: not JSON" in out
    assert f"malformed line {facts['not_object_line']} skipped: a JSON list" in out


def test_unknown_types_are_counted(imported) -> None:
    _, out, _ = imported
    assert ("skipped 1 TRAINING_STARTED: starts a further policy group of its run "
            "(declared once, by its first group)") in out
    assert "skipped 1 GOVERNOR_ROLLBACK: no mapping" in out
    assert "skipped 1 SOMETHING_NEW: no mapping" in out


def test_events_against_the_declared_shape_are_skipped_not_fatal(imported) -> None:
    server, out, _ = imported
    assert "skipped 1 EPOCH_COMPLETED: env_id 99 >= n_envs 4 declared by the run" in out
    assert "skipped 1 SEED_STAGE_CHANGED: slot 'r9c9' is not one the run declared" in out
    assert "refused by validation" not in out  # the mapping caught them first
    assert server.snapshot("ab_test-aaaa1111").delivery.events_rejected == 0


def test_values_sanctum_refuses_are_left_out_or_clamped(imported) -> None:
    server, out, _ = imported
    assert "left out 1 non-finite EPOCH_COMPLETED.val_loss" in out
    assert "left out 1 non-finite PPO_UPDATE_COMPLETED.policy_loss" in out
    assert "left out 1 non-finite PPO_UPDATE_COMPLETED.grad_norm" in out
    assert "left out 1 non-finite TRAINING_STARTED.seed" in out  # 2^64-5 is no int64 seed
    assert "clamped or cut 1 SEED_FOSSILIZED.epochs_total" in out
    assert not server.snapshot("second-run-cccc3333").run.config.HasField("seed")
    snap = server.snapshot("ab_test-aaaa1111")
    assert snap.tamiyo.groups[0].HasField("last_update") and snap.lifecycle.fossilized == 1
    assert any("4294967295 epochs" in e.message for e in snap.event_log.entries)
