"""The original's 3,830-event batch mix (testkit.original_mix) is what the bench says it is,
reproducible, and accepted whole by a live sanctum."""

from __future__ import annotations

from collections import Counter

from esper.telemetry.v1 import telemetry_pb2 as tpb
from testkit import ThreadedSanctum
from testkit.original_mix import BATCH_EVENTS, N_ENVS, original_mix

LIFECYCLE = {"seed_germinated", "seed_gate_evaluated", "seed_stage_changed", "seed_fossilized",
             "seed_pruned"}


def test_one_batch_has_the_originals_counts() -> None:
    events = original_mix("m")
    assert events[0].event_type == tpb.EVENT_TYPE_TRAINING_STARTED
    kinds = Counter(ev.WhichOneof("payload") for ev in events[1:])
    assert BATCH_EVENTS == 3830 and len(events) == 1 + BATCH_EVENTS
    assert kinds["epoch_completed"] == 1800 and kinds["analytics_snapshot"] == 1800
    assert sum(kinds[k] for k in LIFECYCLE) == 216
    assert kinds["episode_outcome"] == 12 and kinds["ppo_update"] == 1
    assert kinds["batch_epoch_completed"] == 1
    assert {ev.env_id for ev in events if ev.HasField("env_id")} == set(range(N_ENVS))
    assert all(len(ev.analytics_snapshot.decision.heads) == 8
               for ev in events if ev.HasField("analytics_snapshot"))


def test_reproducible_byte_for_byte() -> None:
    a, b = original_mix("m", n_batches=2), original_mix("m", n_batches=2)
    assert [e.SerializeToString() for e in a] == [e.SerializeToString() for e in b]
    assert [e.seq for e in a] == list(range(1, 2 * BATCH_EVENTS + 2))


def test_sanctum_accepts_all_of_it() -> None:
    events = original_mix("mix", n_batches=1)
    with ThreadedSanctum() as server:
        reply = server.ingest(events)
        snap = server.snapshot("mix")
    assert reply.events_applied == len(events)
    assert snap.delivery.events_applied == len(events)
    assert snap.delivery.events_rejected == 0
