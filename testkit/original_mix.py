"""The original system's realistic batch, in our contract: 12 envs × 150 epochs.

One PPO batch of the original at 12 envs is 3,830 events: 1,800 EPOCH_COMPLETED (one per
env and epoch), 1,800 per-step decisions (ANALYTICS_SNAPSHOT decision cards, 8 heads each),
216 lifecycle events (per env three seeds, each germinated, gated twice, staged twice and
fossilized or pruned), 12 EPISODE_OUTCOMEs, 1 PPO_UPDATE_COMPLETED and 1
BATCH_EPOCH_COMPLETED. The counts match the original's own output at that size (see
the shapes beside the original's fixture); values are deterministic, so two calls give
byte-identical events.

    events = original_mix("run-1", n_batches=2)   # TRAINING_STARTED, then 2 × 3,830
"""

from __future__ import annotations

from esper.telemetry.v1 import telemetry_pb2 as tpb
from testkit.events import BLUEPRINTS, HEAD_ACTIONS, SLOT_IDS, Producer, ppo_payload, run_config

N_ENVS = 12
EPOCHS = 150
#: Per env and batch: three seeds, each alive over these epochs (start, end).
SEED_SPANS = ((10, 40), (60, 90), (110, 140))
MIX_COUNTS = {
    tpb.EVENT_TYPE_EPOCH_COMPLETED: N_ENVS * EPOCHS,
    tpb.EVENT_TYPE_ANALYTICS_SNAPSHOT: N_ENVS * EPOCHS,
    "lifecycle": N_ENVS * len(SEED_SPANS) * 6,
    tpb.EVENT_TYPE_EPISODE_OUTCOME: N_ENVS,
    tpb.EVENT_TYPE_PPO_UPDATE_COMPLETED: 1,
    tpb.EVENT_TYPE_BATCH_EPOCH_COMPLETED: 1,
}
BATCH_EVENTS = sum(MIX_COUNTS.values())  # 3,830
_OPS = (tpb.LIFECYCLE_OP_WAIT, tpb.LIFECYCLE_OP_GERMINATE, tpb.LIFECYCLE_OP_ADVANCE,
        tpb.LIFECYCLE_OP_PRUNE)


def _card(env: int, epoch: int, k: int) -> tpb.DecisionCard:
    op = _OPS[k % 7 % len(_OPS)] if k % 7 < len(_OPS) else tpb.LIFECYCLE_OP_WAIT
    heads = []
    for i, (head, n) in enumerate(HEAD_ACTIONS.items()):
        relevant = i == 0 or op != tpb.LIFECYCLE_OP_WAIT
        heads.append(tpb.HeadChoice(
            head=head, action=str((k + i) % n), probability=0.3 + 0.05 * ((k + i) % 10),
            entropy=0.2 + 0.1 * i, relevant=relevant,
            valid_mask=(1 << n) - 1 if relevant else 0))
    card = tpb.DecisionCard(
        env_id=env, op=op, epoch=epoch, heads=heads, value_estimate=0.5 + 0.001 * epoch,
        masked_actions=k % 3, slot_id=SLOT_IDS[k % len(SLOT_IDS)] if op else "",
        blueprint_id=BLUEPRINTS[k % len(BLUEPRINTS)] if op == tpb.LIFECYCLE_OP_GERMINATE
        else "")
    card.reward = 0.01 * ((k % 21) - 10)
    return card


def _lifecycle(p: Producer, env: int, epoch: int, n: int, span: tuple[int, int],
               episode: int, batch: int) -> None:
    """The seed event due at `epoch` for the n-th seed of `env`, if any."""
    start, end = span
    slot, bp = SLOT_IDS[n % len(SLOT_IDS)], BLUEPRINTS[(env + n) % len(BLUEPRINTS)]
    common = {"env_id": env, "epoch": epoch, "episode": episode, "batch": batch}
    stage = tpb.SEED_STAGE_GERMINATED
    if epoch == start:
        p.make(tpb.EVENT_TYPE_SEED_GERMINATED, seed_germinated=tpb.SeedGerminatedPayload(
            slot_id=slot, blueprint_id=bp, seed_id=f"e{env}-b{batch}-s{n}", params=12_000),
            **common)
    elif epoch in (start + 5, start + 15):
        target = tpb.SEED_STAGE_TRAINING if epoch == start + 5 else tpb.SEED_STAGE_BLENDING
        p.make(tpb.EVENT_TYPE_SEED_GATE_EVALUATED, seed_gate_evaluated=tpb.SeedGateEvaluatedPayload(
            slot_id=slot, gate="G1" if target == tpb.SEED_STAGE_TRAINING else "G2",
            passed=True, target_stage=target, reason="gradient healthy"), **common)
        before = stage if target == tpb.SEED_STAGE_TRAINING else tpb.SEED_STAGE_TRAINING
        p.make(tpb.EVENT_TYPE_SEED_STAGE_CHANGED, seed_stage_changed=tpb.SeedStageChangedPayload(
            slot_id=slot, from_stage=before, to_stage=target, blueprint_id=bp,
            alpha=0.0 if target == tpb.SEED_STAGE_TRAINING else 0.1), **common)
    elif epoch == end:
        if (env + n) % 2:
            p.make(tpb.EVENT_TYPE_SEED_FOSSILIZED, seed_fossilized=tpb.SeedFossilizedPayload(
                slot_id=slot, blueprint_id=bp, params_added=12_000, improvement=0.8,
                epochs_total=end - start), **common)
        else:
            p.make(tpb.EVENT_TYPE_SEED_PRUNED, seed_pruned=tpb.SeedPrunedPayload(
                slot_id=slot, blueprint_id=bp, reason="no improvement", improvement=-0.2,
                epochs_total=end - start, from_stage=tpb.SEED_STAGE_BLENDING), **common)


def _seeds(env: int, epoch: int, batch: int) -> list[tpb.SeedTelemetry]:
    out = []
    for n, (start, end) in enumerate(SEED_SPANS):
        if start <= epoch < end:
            out.append(tpb.SeedTelemetry(
                slot_id=SLOT_IDS[n % len(SLOT_IDS)], stage=tpb.SEED_STAGE_TRAINING,
                blueprint_id=BLUEPRINTS[(env + n) % len(BLUEPRINTS)],
                seed_id=f"e{env}-b{batch}-s{n}", alpha=min(1.0, (epoch - start) / 30),
                accuracy_delta=0.001 * (epoch - start), epochs_in_stage=epoch - start,
                params=12_000, grad_norm=0.3))
    return out


def original_mix(run_id: str = "mix-1", producer_id: str = "trainer-0", *,
                 n_batches: int = 1) -> list[tpb.TelemetryEvent]:
    """TRAINING_STARTED (12 envs, 3 slots, 8 heads), then `n_batches` × BATCH_EVENTS events
    in the order the original emits them: per epoch, each env's epoch then its decision,
    seed events as they happen; the env's outcome at its last epoch; PPO, then the batch."""
    p = Producer(run_id, producer_id)
    p.make(tpb.EVENT_TYPE_TRAINING_STARTED, training_started=tpb.TrainingStartedPayload(
        config=run_config(N_ENVS, n_episodes=N_ENVS * max(n_batches, 1))))
    k = 0
    for b in range(n_batches):
        for epoch in range(1, EPOCHS + 1):
            for env in range(N_ENVS):
                episode = b * N_ENVS + env
                common = {"env_id": env, "epoch": epoch, "episode": episode, "batch": b}
                acc = 0.1 + 0.5 * epoch / EPOCHS + 0.002 * env
                p.make(tpb.EVENT_TYPE_EPOCH_COMPLETED, epoch_completed=tpb.EpochCompletedPayload(
                    val_accuracy=acc, val_loss=1.0 - acc, train_loss=1.1 - acc,
                    reward=0.01 * (epoch % 13), host_params=1_200_000,
                    seeds=_seeds(env, epoch, b)), **common)
                p.make(tpb.EVENT_TYPE_ANALYTICS_SNAPSHOT, analytics_snapshot=(
                    tpb.AnalyticsSnapshotPayload(decision=_card(env, epoch, k))), **common)
                k += 1
                for n, span in enumerate(SEED_SPANS):
                    _lifecycle(p, env, epoch, n, span, episode, b)
                if epoch == EPOCHS:
                    outcome = tpb.EpisodeOutcomePayload(
                        final_accuracy=acc, total_reward=1.5, params_added=24_000,
                        seeds_fossilized=1, seeds_pruned=2)
                    p.make(tpb.EVENT_TYPE_EPISODE_OUTCOME, episode_outcome=outcome, **common)
        p.make(tpb.EVENT_TYPE_PPO_UPDATE_COMPLETED, ppo_update=ppo_payload(b, None, True),
               episode=(b + 1) * N_ENVS, batch=b)
        p.make(tpb.EVENT_TYPE_BATCH_EPOCH_COMPLETED, batch_epoch_completed=(
            tpb.BatchEpochCompletedPayload(
                avg_accuracy=0.6, avg_reward=1.5, total_episodes=N_ENVS * n_batches,
                episodes_completed=(b + 1) * N_ENVS, batch_idx=b, rolling_accuracy=0.55)),
            episode=(b + 1) * N_ENVS, batch=b)
    return p.events
