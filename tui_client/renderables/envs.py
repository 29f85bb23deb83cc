"""Env table cells: accuracy, reward, and per-slot seed "STAGE blueprint" with stage colour."""

from __future__ import annotations

from rich.text import Text

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.telemetry.v1 import telemetry_pb2 as tpb
from tui_client.renderables.fmt import DASH, clip, num, opt

STAGE_STYLE: dict[int, str] = {
    tpb.SEED_STAGE_DORMANT: "dim",
    tpb.SEED_STAGE_GERMINATED: "bright_green",
    tpb.SEED_STAGE_TRAINING: "green",
    tpb.SEED_STAGE_BLENDING: "cyan",
    tpb.SEED_STAGE_HOLDING: "blue",
    tpb.SEED_STAGE_FOSSILIZED: "bold magenta",
    tpb.SEED_STAGE_PRUNED: "red",
    tpb.SEED_STAGE_EMBARGOED: "dark_orange",
    tpb.SEED_STAGE_RESETTING: "yellow",
}


def stage_name(stage: int) -> str:
    """SEED_STAGE_PRUNED -> "PRUNED"."""
    try:
        return tpb.SeedStage.Name(stage).removeprefix("SEED_STAGE_")
    except ValueError:
        return f"STAGE{stage}"


def slot_ids(snapshot: spb.SanctumSnapshot) -> list[str]:
    """Slots declared in the RunConfig, plus any a seed reported that the config did not list."""
    declared = list(snapshot.run.config.slot_ids)
    seen = sorted({s for env in snapshot.envs.envs for s in env.seeds} - set(declared))
    return declared + seen


def seed_cell(seed: tpb.SeedTelemetry | None) -> Text:
    """ "PRUNED lora" in the stage's colour; "·" for an empty / dormant slot."""
    if seed is None or seed.stage in (tpb.SEED_STAGE_UNSPECIFIED, tpb.SEED_STAGE_DORMANT):
        return Text("·", style="dim")
    style = STAGE_STYLE.get(seed.stage, "")
    out = Text(stage_name(seed.stage), style=style)
    if seed.blueprint_id:
        out.append(f" {clip(seed.blueprint_id, 24)}")
    return out


def row_key(group_id: str, env_id: int) -> str:
    """Unique row key: "3", or "B:3" for env 3 of policy group B (A/B runs reuse env ids)."""
    return f"{group_id}:{env_id}" if group_id else str(env_id)


def parse_row_key(key: str) -> tuple[str, int]:
    """Inverse of `row_key`: (group_id, env_id)."""
    group_id, _, env_id = key.rpartition(":")
    return group_id, int(env_id)


def slot_label(slot_id: str) -> Text:
    """A slot id as a column label (plain text: an id is never console markup)."""
    return Text(clip(slot_id, 24) or DASH)


def env_row(env: spb.EnvState, slots: list[str]) -> list[Text | str]:
    """One DataTable row: env id (group-prefixed in A/B runs), accuracy, best, reward
    ("—" before the env's first epoch), then one seed cell per slot. Text cells: DataTable
    reads a str cell as markup."""
    known = env.HasField("last_epoch")
    last = env.last_epoch
    return [
        Text(clip(row_key(env.group_id, env.env_id), 32)),
        num(last.val_accuracy, ".3g") if known else DASH,
        num(env.best_accuracy, ".3g") if known else DASH,
        num(last.reward, "+.3f") if known else DASH,
        *(seed_cell(env.seeds.get(slot)) for slot in slots),
    ]


def lifecycle_text(snapshot: spb.SanctumSnapshot) -> str:
    """Panel subtitle: last batch's averages (once a batch ended) and cumulative lifecycle
    counts."""
    lc = snapshot.lifecycle
    counts = f"germinated {lc.germinated} · fossilized {lc.fossilized} · pruned {lc.pruned}"
    if not snapshot.run.HasField("last_batch"):
        return counts
    b = snapshot.run.last_batch
    envs = num(opt(snapshot.envs, "mean_reward"), "+.3f")
    batch = (
        f"batch avg acc {num(b.avg_accuracy, '.3g')} "
        f"(rolling {num(b.rolling_accuracy, '.3g')}) · "
        f"reward {num(b.avg_reward, '+.3f')} (envs {envs})"
    )
    return f"{batch} · {counts}"
