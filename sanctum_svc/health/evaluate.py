"""Evaluate the rule table over one run's aggregated state.

`RunHealth.on_update` runs once per applied PPO update (the only place rules that read the
controller are evaluated); `section(now)` adds the time-based `stall` rule and renders the
active findings as the snapshot's HealthSection. Nothing here reads the clock: times come
from the caller, so a replayed store gives the same findings.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Callable

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_common.health_rules import (
    BASELINE_UPDATES,
    BY_ID,
    CLIP_ASYMMETRY,
    GRADIENT_CV_BANDS,
    KL_FLOOR,
    WARMUP_UPDATES,
    Rule,
)
from sanctum_svc.handlers.common import set_time
from sanctum_svc.health.track import Track

SEVERITY = {1: tpb.SEVERITY_WARNING, 2: tpb.SEVERITY_CRITICAL}
#: Bit of LIFECYCLE_OP_GERMINATE in the op head's valid_mask (op index i is enum value i+1).
GERMINATE_BIT = 1 << (tpb.LIFECYCLE_OP_GERMINATE - 1)
_OP = tpb.ACTION_HEAD_OP
#: Decisions noted before they are counted (bounds what they keep referenced).
UNREAD_MAX = 1024

#: Called with (run_id, finding, rising) on every edge (the alert webhook listens here).
EdgeListener = Callable[[str, spb.HealthFinding, bool], None]


def _median_ratio(value: float, window: deque[float]) -> float | None:
    """value / median(window), None until the window holds half its length."""
    if len(window) < BASELINE_UPDATES // 2:
        return None
    median = statistics.median(window)
    return value / median if median > 0 else None


class GroupState:
    """A policy group's recent values that relative rules compare against."""

    def __init__(self) -> None:
        self.kl: deque[float] = deque(maxlen=BASELINE_UPDATES)
        self.value_loss: deque[float] = deque(maxlen=BASELINE_UPDATES)
        self.fps: deque[float] = deque(maxlen=BASELINE_UPDATES)
        self.updates = 0


class RunHealth:
    """Findings of one run: a Track per (rule, group, head), updated per PPO update."""

    def __init__(self, run_id: str, on_edge: EdgeListener | None = None) -> None:
        self.run_id = run_id
        self.on_edge = on_edge
        self.tracks: dict[tuple[str, str, int], Track] = {}
        self.groups: dict[str, GroupState] = {}
        self.evaluated = 0
        self._blocked = 0
        #: Decisions not yet counted into `blocked_decisions` (read back from the newest).
        self._unread: list[tpb.DecisionCard] = []
        self.stall = Track(BY_ID["stall"], "")
        self.bands: dict[str, str] = {}

    # -- inputs ---------------------------------------------------------------------------
    def on_decision(self, card: tpb.DecisionCard) -> None:
        """Note a decision for `blocked_decisions`. Only the decisions since the last one
        that could germinate count, so they are read when the count is, newest first,
        not one by one as they arrive (most are never looked at)."""
        unread = self._unread
        unread.append(card)
        if len(unread) >= UNREAD_MAX:
            self._count_unread()

    @property
    def blocked_decisions(self) -> int:
        """Decisions in a row (the latest ones) whose germinate action was masked out."""
        if self._unread:
            self._count_unread()
        return self._blocked

    @blocked_decisions.setter
    def blocked_decisions(self, value: int) -> None:
        self._unread = []
        self._blocked = value

    def _count_unread(self) -> None:
        blocked = 0
        for card in reversed(self._unread):
            for choice in card.heads:  # the op head decides (irrelevant: not counted)
                if choice.head == _OP and choice.relevant:
                    if choice.valid_mask & GERMINATE_BIT:
                        self._unread, self._blocked = [], blocked
                        return
                    blocked += 1
                    break
        self._unread = []
        self._blocked += blocked

    def on_update(self, group_id: str, p: tpb.PPOUpdatePayload, config: tpb.RunConfig | None,
                  state: spb.SanctumSnapshot, vitals: tpb.SystemVitalsPayload | None,
                  now: float) -> None:
        """Evaluate every update-driven rule for `group_id` after its update `p`."""
        self.evaluated += 1
        g = self.groups.get(group_id)
        if g is None:
            g = self.groups[group_id] = GroupState()
        g.updates += 1
        warm = g.updates > WARMUP_UPDATES
        update = p.update_index or g.updates

        def judge(rule: Rule, value: float | None,
                  head: tpb.ActionHead = tpb.ACTION_HEAD_UNSPECIFIED, text: str = "") -> None:
            key = (rule.id, group_id, head)
            track = self.tracks.get(key)
            if track is None:
                track = self.tracks[key] = Track(rule, group_id, head)
            if value is None or not math.isfinite(value):
                lvl, bound, value = 0, None, 0.0 if value is None else value
            else:
                lvl, bound = rule.level(value)
                if lvl == 1 and not warm:
                    lvl, bound = 0, None
            self._edge(track, track.step(lvl, bound, value, now, update), text)

        judge(BY_ID["nonfinite"], float(p.nonfinite_loss_count + p.nonfinite_grad_count))
        judge(BY_ID["exploding_gradients"], float(p.exploding_layers))
        judge(BY_ID["dead_layers"],
              p.dead_layers / p.total_layers if p.total_layers else None)
        maxima = {h.head: math.log(h.n_actions) for h in (config.heads if config else ())
                  if h.n_actions >= 2}
        for m in p.heads:
            if m.head in maxima:
                judge(BY_ID["entropy_collapse"], m.entropy / maxima[m.head], m.head,
                      tpb.ActionHead.Name(m.head).removeprefix("ACTION_HEAD_").lower())
        kl_ratio = _median_ratio(p.kl_divergence, g.kl)
        judge(BY_ID["kl_spike"], kl_ratio if p.kl_divergence > KL_FLOOR else 0.0)
        g.kl.append(p.kl_divergence)
        judge(BY_ID["explained_variance_collapse"], p.explained_variance)
        clip = p.clip_fraction
        asym = abs(p.clip_fraction_positive - p.clip_fraction_negative) / clip if clip > 0 else 0
        judge(BY_ID["clip_asymmetric"], clip if asym > CLIP_ASYMMETRY else 0.0)
        judge(BY_ID["value_divergence"], _median_ratio(p.value_loss, g.value_loss))
        g.value_loss.append(p.value_loss)
        if p.HasField("fps"):
            judge(BY_ID["throughput_drop"], _median_ratio(p.fps, g.fps))
            g.fps.append(p.fps)
        if vitals is not None and vitals.HasField("gpu_memory_total_gb") \
                and vitals.gpu_memory_total_gb > 0:
            judge(BY_ID["cuda_memory_pressure"],
                  vitals.gpu_memory_used_gb / vitals.gpu_memory_total_gb)
        life = state.lifecycle
        judge(BY_ID["seeds_all_pruned"], 0.0 if life.fossilized else float(life.pruned))
        judge(BY_ID["germination_blocked"], float(self.blocked_decisions))
        if p.HasField("gradient_cv"):
            self.bands[group_id] = next(b for limit, b, _ in GRADIENT_CV_BANDS
                                        if p.gradient_cv < limit)

    def check_stall(self, now: float, last_event: float | None, finished: bool) -> None:
        """Evaluate `stall` (the one time-based rule) at `now`."""
        if last_event is None:
            return
        age = 0.0 if finished else max(0.0, now - last_event)
        lvl, bound = self.stall.rule.level(age)
        self._edge(self.stall, self.stall.step(lvl, bound, age, last_event, 0), "")

    # -- outputs --------------------------------------------------------------------------
    def _edge(self, track: Track, edge: int, text: str) -> None:
        if edge and self.on_edge is not None:
            self.on_edge(self.run_id, self.finding(track, text), edge > 0)

    def finding(self, track: Track, text: str = "") -> spb.HealthFinding:
        rule = track.rule
        lvl = track.level or 1
        subject = f" ({text})" if text else ""
        group = f" [{track.group_id}]" if track.group_id else ""
        f = spb.HealthFinding(
            rule_id=rule.id, severity=SEVERITY[lvl] if track.level else tpb.SEVERITY_INFO,
            observed=track.observed, threshold=track.threshold,
            since_update=track.since_update, group_id=track.group_id,
            head=track.head,
            metric=rule.metric,
            message=f"{rule.id.replace('_', ' ')}{subject}{group}: {track.observed:.4g} "
                    f"{'>' if rule.direction == 'above' else '<'} {track.threshold:.4g}")
        set_time(f.since, track.since)
        return f

    def section(self, out: spb.HealthSection) -> None:
        """Fill the snapshot's HealthSection with the active findings, worst first."""
        active = [t for t in (*self.tracks.values(), self.stall) if t.level]
        active.sort(key=lambda t: (-t.level, t.rule.id, t.group_id, t.head))
        for t in active:
            name = tpb.ActionHead.Name(t.head).removeprefix("ACTION_HEAD_").lower() \
                if t.head else ""
            out.findings.append(self.finding(t, name))
        for group_id, band in sorted(self.bands.items()):
            sev = next(s for _, b, s in GRADIENT_CV_BANDS if b == band)
            out.bands.add(group_id=group_id, metric="ppo_update.gradient_cv", band=band,
                          severity=SEVERITY.get(sev, tpb.SEVERITY_INFO))
        out.evaluated_updates = self.evaluated
        worst = max((t.level for t in active), default=0)
        warm = any(g.updates > WARMUP_UPDATES for g in self.groups.values())
        out.status = (spb.HEALTH_STATUS_CRITICAL if worst == 2 else
                      spb.HEALTH_STATUS_WARNING if worst == 1 else
                      spb.HEALTH_STATUS_OK if warm else spb.HEALTH_STATUS_WARMUP)
