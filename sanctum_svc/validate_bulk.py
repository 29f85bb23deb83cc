"""Bulk form of the fast path (sanctum_svc.validate.fast_ok) for a one-run batch.

The events are grouped by payload type and every rule runs over a whole group at once
(rules_fast.bulk_sum; run rules as set and max operations over columns), so the Python
work per batch grows with the number of payload types and fields, not with the number of
events or decision-card heads. Like fast_ok it only answers "certainly valid"; False
sends the batch to the rules, which say what is wrong.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import chain
from operator import attrgetter, methodcaller

from esper.telemetry.v1 import telemetry_pb2 as tpb
from sanctum_svc import rules_fast
from sanctum_svc.rules import Plan

_ENV_ID = attrgetter("env_id")
_SLOT_ID = attrgetter("slot_id")
_SEEDS = attrgetter("seeds")
_DECISION = attrgetter("decision")
_HAS_ENV = methodcaller("HasField", "env_id")
_WHICH = methodcaller("WhichOneof", "payload")


def bulk_ok(events: Sequence[tpb.TelemetryEvent], types: list[int],
            by_type: dict[int, tuple[str, Plan, int]], per_env: frozenset[str],
            shape: tuple[int, frozenset[str] | None, object], kinds: tuple[int, int, int],
            wire: bool = False) -> bool | None:
    """True: every event of the batch (one run, its `shape`) passes every rule; False: some
    rule may fail; None: the batch declares a shape (TRAINING_STARTED), which changes the
    rules for the events after it, so the caller checks it event by event. `wire`: the
    doubles and timestamps are already checked (sanctum_svc.rules_wire)."""
    n_envs, slots, _ = shape
    one_slot, seeds_kind, decision_kind = kinds
    groups: dict[int, list[int]] = {}
    for i, t in enumerate(types):
        g = groups.get(t)
        if g is None:
            groups[t] = [i]
        else:
            g.append(i)
    names = list(map(_WHICH, events))
    total = 0.0
    for t, idx in groups.items():
        entry = by_type.get(t)
        if entry is None:
            return False
        name, plan, kind = entry
        group = [events[i] for i in idx]
        if any(names[i] != name for i in idx):
            return False
        payloads = list(map(attrgetter(name), group))
        if not wire:
            total += rules_fast.bulk_sum(plan, payloads)
        elif not rules_fast.bulk_checks(plan, payloads):
            return False
        if name in per_env and not all(map(_HAS_ENV, group)):
            return False
        if max(map(_ENV_ID, group)) >= n_envs:  # unset env_id reads 0
            return False
        if not kind:
            continue
        if kind == one_slot:
            if slots is not None and not slots.issuperset(map(_SLOT_ID, payloads)):
                return False
        elif kind == seeds_kind:
            if slots is not None and not slots.issuperset(
                    map(_SLOT_ID, chain.from_iterable(map(_SEEDS, payloads)))):
                return False
        elif kind == decision_kind:
            cards = list(map(_DECISION, payloads))
            if max(map(_ENV_ID, cards)) >= n_envs:
                return False
            if slots is not None and not slots.issuperset(
                    set(map(_SLOT_ID, cards)) - {""}):
                return False
        else:
            return None
    return math.isfinite(total)
