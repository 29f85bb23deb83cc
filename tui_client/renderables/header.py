"""Run header: task, run, progress, throughput, RunConfig and the liveness badge."""

from __future__ import annotations

import math

from rich.text import Text

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.telemetry.v1 import telemetry_pb2 as tpb
from tui_client.renderables.fmt import DASH, TEXT_LIMIT, clip, compact_int, enum_name, num, opt, pct

BADGES = {
    "LIVE": ("● LIVE", "bold green"),
    "SLOW": ("◐ SLOW", "bold yellow"),
    "STALE": ("○ STALE", "bold red"),
    "disconnected": ("○ disconnected", "bold red reverse"),
    "connecting": ("… connecting", "dim"),
    "error": ("✖ error", "bold red"),
    # A run that ended is expected to be silent: not an alarm (STALE is for silent ones).
    "DONE": ("■ DONE", "bold blue"),
    "STOPPED": ("■ STOPPED", "bold yellow"),
    "FAILED": ("✖ FAILED", "bold red"),
}
ENDED = ("DONE", "STOPPED", "FAILED")

#: How the run ended -> label and style of the completion line.
COMPLETION_STYLE = {
    spb.RUN_STATUS_COMPLETED: ("■ COMPLETED", "bold blue"),
    spb.RUN_STATUS_STOPPED: ("■ STOPPED", "bold yellow"),
    spb.RUN_STATUS_FAILED: ("✖ FAILED", "bold red"),
}


def badge(key: str, age: float | None) -> Text:
    """The liveness badge, with the age of the last event when known."""
    label, style = BADGES.get(key, (key, ""))
    out = Text(label, style=style)
    if key in ("LIVE", "SLOW", "STALE", *ENDED) and age is not None:
        out.append(f" {num(age, '.1f')}s", style="dim")
    return out


def duration(seconds: float | None) -> str:
    """12.04 -> "12.0s", 754 -> "12m34s", 3725 -> "1h02m05s"; None, NaN or inf -> "—";
    a million hours or more in exponent form."""
    if seconds is None or not math.isfinite(seconds):
        return DASH
    if abs(seconds) >= 3.6e9:
        return f"{num(seconds, '.3g')}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s"


def completion_text(snapshot: spb.SanctumSnapshot) -> Text | None:
    """ "■ COMPLETED  final acc 0.612 · avg reward +0.300 · 8 episodes · wall 12.0s", or
    "■ STOPPED: interrupted …" / "✖ FAILED: error: why …"; None while the run is going.

    A run that ended before finishing an episode has no final numbers: they show "—".
    """
    status = snapshot.run.status
    if status not in COMPLETION_STYLE:
        return None
    c = snapshot.run.completion
    label, style = COMPLETION_STYLE[status]
    out = Text(label, style=style)
    reason = clip(c.status.strip())
    if status != spb.RUN_STATUS_COMPLETED and reason:
        out.append(f": {reason}", style=style.replace("bold ", ""))
    finished = c.total_episodes > 0
    out.append("  final acc ", style="dim")
    out.append(num(c.final_accuracy if finished else None, ".3f"))
    out.append(" · avg reward ", style="dim")
    out.append(num(c.final_avg_reward if finished else None, "+.3f"))
    out.append(f" · {c.total_episodes} episodes · wall ", style="dim")
    out.append(duration(c.wall_time_s if c.wall_time_s > 0 else None))
    return out


def anneal_text(cfg: tpb.RunConfig) -> str:
    """ "linear 0.05→0.01/500ep", or "const" when the coefficient is not annealed."""
    a = cfg.entropy_anneal
    if a.kind in (tpb.SCHEDULE_KIND_UNSPECIFIED, tpb.SCHEDULE_KIND_CONSTANT):
        return "const"
    kind = enum_name(tpb.ScheduleKind, a.kind, "SCHEDULE_KIND_").lower()
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
        out.append(f"  resume {clip(cfg.resume_path)}")
    return out


def hyperparameters_text(cfg: tpb.RunConfig, limit: int = TEXT_LIMIT) -> Text | None:
    """ "hp batch=64 gamma=0.99 …": the run's free-form hyperparameters on one line of at
    most `limit` characters (values clipped to 16); None when it declared none."""
    if not cfg.hyperparameters:
        return None
    line = " ".join(f"{h.name}={clip(h.value, 16)}" for h in cfg.hyperparameters)
    return Text(clip(f"hp {line}", limit), style="dim")


def problem_text(liveness_key: str, detail: str) -> Text | None:
    """ "disconnected: TLS: … not valid for the name '127.0.0.1' …" while the connection is
    down, so the reason stays on screen after the notification fades."""
    if liveness_key not in ("disconnected", "error") or not detail:
        return None
    return Text(f"{liveness_key}: {detail}", style="bold red")


def header_text(
    snapshot: spb.SanctumSnapshot | None, liveness_key: str, age: float | None, target: str,
    detail: str = "",
) -> Text:
    """Identity/progress/throughput/badge, the RunConfig, how the run ended (if it did), and
    why the connection is down (if it is)."""
    out = Text()
    out.append("ESPER ", style="bold magenta")
    problem = problem_text(liveness_key, detail)
    if snapshot is None:
        out.append(f"{clip(target)}  ", style="dim")
        out.append_text(badge(liveness_key, age))
        out.append("\n")
        out.append_text(problem or Text("waiting for a run…", style="dim"))
        return out
    run = snapshot.run
    out.append(f"{clip(run.config.task) or DASH}", style="bold")
    out.append(f" · run {clip(snapshot.run_id)}  ")
    done, total = run.last_batch.episodes_completed, run.last_batch.total_episodes
    if total:
        out.append(f"ep {done}/{total} ({pct(done / total)})  ")
    else:
        out.append(f"ep {done}/{DASH}  ")
    out.append(f"batch {run.last_batch.batch_idx}  ")
    eps = opt(run, "episodes_per_second")
    out.append(f"{num(eps, '.2f')} ep/s  ")
    out.append_text(badge(liveness_key, age))
    if snapshot.HasField("trimmed"):
        out.append("  ✂ partial snapshot (see DELIVERY)", style="yellow")
    out.append("\n")
    out.append_text(config_text(run.config))
    for line in (hyperparameters_text(run.config), completion_text(snapshot), problem):
        if line is not None:
            out.append("\n")
            out.append_text(line)
    return out
