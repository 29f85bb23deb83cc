"""`esper-sanctum import` of the original system's real telemetry into a live sanctum: the
snapshot agrees with values read from the file itself; a second import applies nothing."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import grpc
import pytest

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_client.bridge import MAPPINGS
from sanctum_svc.import_progress import ByteProgress
from sanctum_svc.importer import ImportResult
from testkit import ThreadedSanctum
from tests.bridge.original import FIXTURE, Record, counts, of, records, run_import
from tests.certs import make_cert
from tui_client.renderables.groups import series

pytestmark = pytest.mark.slow
F32 = 1e-6  # histories are float32


@pytest.fixture(scope="module")
def recs() -> list[Record]:
    return records(FIXTURE)


@pytest.fixture(scope="module")
def imported(recs: list[Record]) -> Iterator[tuple[ThreadedSanctum, str, str]]:
    """A sanctum holding the fixture, the import's output and the run id it reported."""
    with ThreadedSanctum() as server:
        done = run_import(FIXTURE, server.address)
        assert done.returncode == 0, done.stderr
        listed = server.stub(server.channel()).ListRuns(spb.ListRunsRequest(),
                                                        metadata=server.metadata)
        assert [r.run_id for r in listed.runs] == [listed.runs[0].run_id]  # one run
        yield server, done.stdout, listed.runs[0].run_id


def approx(x: float, rel: float = 1e-9) -> object:
    return pytest.approx(x, rel=rel, abs=rel)


def test_run_config_is_the_training_started_record(imported, recs) -> None:
    server, _, run_id = imported
    start = of(recs, "TRAINING_STARTED")[0]["data"]
    assert start["episode_id"] in run_id
    cfg = server.snapshot(run_id).run.config
    assert cfg.task == start["task"] and cfg.n_envs == start["n_envs"]
    assert list(cfg.slot_ids) == start["slot_ids"]
    assert (cfg.seed, cfg.n_episodes, cfg.max_epochs) == (
        start["seed"], start["n_episodes"], start["max_epochs"])
    assert cfg.lr == start["lr"] and cfg.clip_ratio == start["clip_ratio"]
    assert cfg.host_params == start["host_params"] and cfg.reward_mode == start["reward_mode"]
    assert list(cfg.env_devices) == start["env_devices"]


def test_every_mapped_event_applied_once(imported, recs) -> None:
    server, out, run_id = imported
    mapped = sum(n for name, n in counts(recs).items() if name in MAPPINGS)
    delivery = server.snapshot(run_id).delivery
    assert delivery.events_applied == mapped
    assert (delivery.gap_events, delivery.events_duplicate, delivery.events_rejected) == (0, 0, 0)
    assert f"{mapped:,} sent, {mapped:,} applied" in out


def test_what_is_skipped_is_reported_by_type(imported, recs) -> None:
    _, out, _ = imported
    unmapped = {name: n for name, n in counts(recs).items() if name not in MAPPINGS}
    assert unmapped  # the fixture has types without a mapping (MORPHOLOGY_CAUSAL_LOG, ...)
    for name, n in unmapped.items():
        assert f"skipped {n:,} {name}: no mapping" in out
    total = f"{sum(unmapped.values()):,} lines skipped"
    assert total in out


def test_seed_lifecycle_counts(imported, recs) -> None:
    server, _, run_id = imported
    life = server.snapshot(run_id).lifecycle
    assert life.germinated == len(of(recs, "SEED_GERMINATED")) > 0
    assert life.fossilized == len(of(recs, "SEED_FOSSILIZED"))
    assert life.pruned == len(of(recs, "SEED_PRUNED")) > 0


def test_envs_carry_accuracy_loss_and_the_decision_reward(imported, recs) -> None:
    server, _, run_id = imported
    snap = server.snapshot(run_id)
    n_envs = of(recs, "TRAINING_STARTED")[0]["data"]["n_envs"]
    envs = {e.env_id: e for e in snap.envs.envs}
    assert sorted(envs) == list(range(n_envs))
    for env_id, env in envs.items():
        epochs = of(recs, "EPOCH_COMPLETED", env_id=env_id)
        decisions = of(recs, "ANALYTICS_SNAPSHOT[kind=last_action]", env_id=env_id)
        last = env.last_epoch
        assert last.val_accuracy == approx(epochs[-1]["data"]["val_accuracy"] / 100)
        assert env.best_accuracy == approx(max(r["data"]["val_accuracy"] for r in epochs) / 100)
        assert last.val_loss == approx(epochs[-1]["data"]["val_loss"])
        assert env.epoch == epochs[-1]["data"]["inner_epoch"]
        # the epoch's reward is the one of the decision taken on it
        assert last.reward == approx(decisions[-1]["data"]["total_reward"])
        history = series(snap, "epoch_completed.reward", env.group_id, env_id)
        tail = [r["data"]["total_reward"] for r in decisions][-len(history):]
        assert history and history == pytest.approx(tail, rel=F32, abs=F32)


def test_batch_barrier(imported, recs) -> None:
    server, _, run_id = imported
    snap = server.snapshot(run_id)
    last = of(recs, "BATCH_EPOCH_COMPLETED")[-1]["data"]
    batch = snap.run.last_batch
    assert batch.avg_accuracy == approx(last["avg_accuracy"] / 100)
    assert batch.rolling_accuracy == approx(last["rolling_accuracy"] / 100)
    assert batch.avg_reward == approx(last["avg_reward"])
    assert (batch.batch_idx, batch.episodes_completed, batch.total_episodes) == (
        last["batch_idx"], last["episodes_completed"], last["total_episodes"])


def test_ppo_update_heads_gradient_quality_and_infrastructure(imported, recs) -> None:
    server, _, run_id = imported
    snap = server.snapshot(run_id)
    updates = of(recs, "PPO_UPDATE_COMPLETED")
    last = updates[-1]["data"]
    group = snap.tamiyo.groups[0]
    assert group.HasField("last_update") and group.updates == len(updates)
    t = group.last_update
    for name in ("policy_loss", "value_loss", "entropy", "kl_divergence", "clip_fraction",
                 "explained_variance", "grad_norm", "pre_clip_grad_norm", "lr",
                 "entropy_coef", "ratio_max", "advantage_std"):
        assert getattr(t, name) == approx(last[name]), name
    assert t.dead_layers == last["dead_layers"]
    assert t.total_layers == len(last["layer_gradient_health"])
    assert t.gradient_cv == approx(last["gradient_cv"])
    assert t.clip_fraction_positive == approx(last["clip_fraction_positive"])
    assert t.clip_fraction_negative == approx(last["clip_fraction_negative"])
    heads = {tpb.ActionHead.Name(h.head).removeprefix("ACTION_HEAD_").lower(): h
             for h in t.heads}
    assert len(heads) == 8
    for name, h in heads.items():
        assert h.entropy == approx(last[f"head_{name}_entropy"]), name
        assert h.grad_norm == approx(last[f"head_{name}_grad_norm"]), name
    assert series(snap, "ppo_update.policy_loss", group.group_id) == pytest.approx(
        [u["data"]["policy_loss"] for u in updates], rel=F32)
    if last["cuda_memory_reserved_gb"] == 0:  # a CPU run: memory not measured, not 0 GB
        assert not t.HasField("cuda_memory_allocated_gb")


def _check_card(card: tpb.DecisionCard, rec: Record) -> None:
    d = rec["data"]
    assert card.env_id == d["env_id"] and card.epoch == d["inner_epoch"]
    assert tpb.LifecycleOp.Name(card.op) == "LIFECYCLE_OP_" + d["action_name"]
    assert card.reward == approx(d["total_reward"])
    assert card.value_estimate == approx(d["value_estimate"])
    telemetry = d["head_telemetry"]
    values = [d["action_name"], d["slot_id"], d["blueprint_id"], d["style"], d["tempo_idx"],
              d["alpha_target"], d["alpha_speed"], d["alpha_curve"]]
    prefixes = ["op", "slot", "blueprint", "style", "tempo", "alpha_target", "alpha_speed",
                "curve"]
    masked = ["op", "slot", "blueprint", "style", "tempo", "alpha_target", "alpha_speed",
              "alpha_curve"]
    assert len(card.heads) == 8
    for choice, value, prefix, mask in zip(card.heads, values, prefixes, masked, strict=True):
        assert choice.probability == approx(telemetry[f"{prefix}_confidence"])
        assert choice.entropy == approx(telemetry[f"{prefix}_entropy"])
        relevant = value is not None and (prefix != "slot" or d["action_name"] != "WAIT")
        assert choice.relevant == relevant, prefix
        assert choice.forced == (relevant and d[f"{mask}_masked"]), prefix


def test_decision_cards_are_the_last_actions(imported, recs) -> None:
    server, _, run_id = imported
    snap = server.snapshot(run_id)
    actions = of(recs, "ANALYTICS_SNAPSHOT[kind=last_action]")
    _check_card(snap.tamiyo.groups[0].last_decision, actions[-1])
    recent = list(snap.decisions.recent)
    assert recent
    for card, rec in zip(recent, actions[-1 - len(recent):-1], strict=True):
        _check_card(card, rec)


def test_detector_events_reach_the_event_log(imported, recs) -> None:
    server, _, run_id = imported
    log = [e.message for e in server.snapshot(run_id).event_log.entries]
    collapses = of(recs, "VALUE_COLLAPSE_DETECTED")
    assert collapses
    for rec in collapses:
        entry = next(m for m in log if rec["data"]["detail"][:60] in m)
        assert "threshold" not in entry  # the original records none: not "threshold 0"


def test_second_import_applies_nothing(imported) -> None:
    server, _, run_id = imported
    before = server.snapshot(run_id)
    again = run_import(FIXTURE, server.address)
    assert again.returncode == 0, again.stderr
    n = before.delivery.events_applied
    assert re.search(rf"0 sent, 0 applied, {n:,} already in sanctum", again.stdout)
    after = server.snapshot(run_id)
    assert after.version == before.version
    assert after.delivery.events_received == before.delivery.events_received


def test_import_errors_are_one_clear_line(tmp_path) -> None:
    missing = run_import(tmp_path / "nope.jsonl", "127.0.0.1:1")
    assert missing.returncode == 2 and "no such file" in missing.stderr
    assert "Traceback" not in missing.stderr
    down = run_import(FIXTURE, "127.0.0.1:1")
    assert down.returncode == 2 and "UNAVAILABLE" in down.stderr
    assert "run the same command again" in down.stderr and "Traceback" not in down.stderr


def test_a_token_protected_sanctum(recs) -> None:
    with ThreadedSanctum(token="s3cret") as server:
        denied = run_import(FIXTURE, server.address)
        assert denied.returncode == 2 and "UNAUTHENTICATED" in denied.stderr
        ok = run_import(FIXTURE, server.address, "--token", "s3cret")
        assert ok.returncode == 0, ok.stderr
        channel = server.channel(token="s3cret")
        with pytest.raises(grpc.RpcError):  # the run is there, behind the token
            server.stub(grpc.insecure_channel(server.address)).ListRuns(spb.ListRunsRequest())
        runs = server.stub(channel).ListRuns(spb.ListRunsRequest(),
                                             metadata=(("authorization", "Bearer s3cret"),))
        assert len(runs.runs) == 1


def test_a_tls_sanctum_with_its_ca(tmp_path) -> None:
    cert, key = make_cert(tmp_path, "localhost")
    with ThreadedSanctum(tls_cert=cert, tls_key=key) as server:
        port = server.address.rsplit(":", 1)[1]
        ok = run_import(FIXTURE, f"localhost:{port}", "--tls-ca", str(cert))
        assert ok.returncode == 0, ok.stderr
        assert re.search(r"[\d,]+ sent, [\d,]+ applied", ok.stdout)
        plain = run_import(FIXTURE, f"localhost:{port}")
        assert plain.returncode == 2 and "Traceback" not in plain.stderr


def test_the_progress_bar_on_a_terminal(recs) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Terminal()
    bar = ByteProgress("import", stream=out)
    bar.total = 1000
    counts = ImportResult(lines=10, events=7, sent=5)
    bar.update(500, counts)
    bar.update(1000, counts)
    bar.finish()
    drawn = out.getvalue()
    assert "\rimport [" in drawn and " 50%" in drawn and "100%" in drawn
    assert "10 lines  7 events" in drawn and drawn.endswith("\n")
