"""Run header: task, run, progress, throughput, RunConfig and the liveness badge."""

from __future__ import annotations

from rich.text import Text

from esper.sanctum.v1 import sanctum_pb2 as spb
from esper.telemetry.v1 import telemetry_pb2 as tpb
from tui_client.renderables.fmt import DASH, compact_int, num, opt

BADGES = {
    "LIVE": ("● LIVE", "bold green"),
    "SLOW": ("◐ SLOW", "bold yellow"),
    "STALE": ("○ STALE", "bold red"),
    "disconnected": ("○ disconnected", "bold red reverse"),
    "connecting": ("… connecting", "dim"),
    "error": ("✖ error", "bold red"),
}


def badge(key: str, age: float | None) -> Text:
    """The liveness badge, with the age of the last event when known."""
    label, style = BADGES.get(key, (key, ""))
    out = Text(label, style=style)
    if key in ("LIVE", "SLOW", "STALE") and age is not None:
        out.append(f" {age:.1f}s", style="dim")
    return out


def anneal_text(cfg: tpb.RunConfig) -> str:
    """ "linear 0.05→0.01/500ep", or "const" when the coefficient is not annealed."""
    a = cfg.entropy_anneal
    if a.kind in (tpb.SCHEDULE_KIND_UNSPECIFIED, tpb.SCHEDULE_KIND_CONSTANT):
        return "const"
    kind = tpb.ScheduleKind.Name(a.kind).removeprefix("SCHEDULE_KIND_").lower()
    return f"{kind} {a.start:g}→{a.end:g}/{a.anneal_episodes}ep"


def config_text(cfg: tpb.RunConfig) -> Text:
    """The RunConfig line: seed, n_episodes, lr, clip, entropy coef + anneal, budget, resume."""
    seed = opt(cfg, "seed")
    out = Text(style="dim")
    out.append(f"seed {DASH if seed is None else seed}  ")
    out.append(f"episodes {cfg.n_episodes or DASH}  ")
    out.append(f"lr {cfg.lr:g}  " if cfg.lr else f"lr {DASH}  ")
    out.append(f"clip {cfg.clip_ratio:g}  " if cfg.clip_ratio else f"clip {DASH}  ")
    ent = f"{cfg.entropy_coef:g}" if cfg.entropy_coef else DASH
    out.append(f"ent_coef {ent} ({anneal_text(cfg)})  ")
    out.append(f"budget {compact_int(cfg.param_budget) if cfg.param_budget else DASH}")
    if cfg.resume_path:
        out.append(f"  resume {cfg.resume_path}")
    return out


def header_text(
    snapshot: spb.SanctumSnapshot | None, liveness_key: str, age: float | None, target: str
) -> Text:
    """Two lines: identity/progress/throughput/badge, then the RunConfig."""
    out = Text()
    out.append("ESPER ", style="bold magenta")
    if snapshot is None:
        out.append(f"{target}  ", style="dim")
        out.append_text(badge(liveness_key, age))
        out.append("\nwaiting for a run…", style="dim")
        return out
    task = snapshot.task_name or snapshot.run_config.task or DASH
    out.append(f"{task}", style="bold")
    out.append(f" · run {snapshot.run_id}  ")
    done, total = snapshot.episodes_completed, snapshot.batch_total_episodes
    if total:
        out.append(f"ep {done}/{total} ({done / total:.0%})  ")
    else:
        out.append(f"ep {done}/{DASH}  ")
    out.append(f"batch {snapshot.current_batch}  ")
    eps = opt(snapshot, "episodes_per_second")
    out.append(f"{num(eps, '.2f')} ep/s  ")
    if snapshot.status == spb.RUN_STATUS_COMPLETED:
        out.append("■ completed  ", style="bold blue")
    out.append_text(badge(liveness_key, age))
    out.append("\n")
    out.append_text(config_text(snapshot.run_config))
    return out
