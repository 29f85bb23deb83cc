"""The blocked-germination count, read when needed from the newest decision back, equals
counting every decision as it arrives; and the decisions it waits to read stay bounded."""

from __future__ import annotations

import random

from esper.telemetry.v1 import telemetry_pb2 as tpb
from sanctum_svc.health.evaluate import GERMINATE_BIT, UNREAD_MAX, RunHealth


def _card(rng: random.Random) -> tpb.DecisionCard:
    card = tpb.DecisionCard()
    if rng.random() < 0.3:
        card.heads.add(head=tpb.ACTION_HEAD_SLOT, relevant=True)
    kind = rng.randrange(4)  # allowed, blocked, op head irrelevant, no op head
    if kind < 3:
        card.heads.add(head=tpb.ACTION_HEAD_OP, relevant=kind < 2,
                       valid_mask=GERMINATE_BIT | 1 if kind == 0 else 1)
    return card


def _one_by_one(cards: list[tpb.DecisionCard], start: int) -> int:
    count = start
    for card in cards:
        for choice in card.heads:
            if choice.head == tpb.ACTION_HEAD_OP and choice.relevant:
                count = 0 if choice.valid_mask & GERMINATE_BIT else count + 1
                break
    return count


def test_blocked_count_read_lazily_equals_counting_each_decision() -> None:
    rng = random.Random(3)
    for trial in range(40):
        health = RunHealth("r")
        health.blocked_decisions = start = rng.randrange(3)  # as a checkpoint restores it
        seen: list[tpb.DecisionCard] = []
        blocked_run = trial % 4 == 0  # long runs of blocked decisions, past UNREAD_MAX
        for _ in range(rng.randrange(1, 2 * UNREAD_MAX + 10 if blocked_run else 300)):
            card = _card(rng) if not blocked_run else tpb.DecisionCard(heads=[
                tpb.HeadChoice(head=tpb.ACTION_HEAD_OP, relevant=True, valid_mask=1)])
            health.on_decision(card)
            seen.append(card)
            assert len(health._unread) < UNREAD_MAX
            if rng.random() < 0.05:
                assert health.blocked_decisions == _one_by_one(seen, start)
        assert health.blocked_decisions == _one_by_one(seen, start)
