"""Env detail: one env's seeds (every field), its series, and the controller's recent
decisions about it. The seed columns and the caption's values come from the presentation
table."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_common.presentation import metric, plotted, shown
from tui_client.renderables.decisions import env_decisions, group_feed
from tui_client.renderables.envs import seed_cell, slot_ids, slot_label
from tui_client.renderables.fmt import DASH, clip, num, sparkline
from tui_client.renderables.groups import groups, series

_SEED_COLUMNS = shown(tpb.SeedTelemetry)
_EPOCH_FIELDS = shown(tpb.EpochCompletedPayload)
_EPOCH_PLOTTED = plotted(tpb.EpochCompletedPayload)


def _seed_row(slot: str, seed: tpb.SeedTelemetry | None) -> list[RenderableType]:
    """One seed table row. Every cell is Text: Rich reads a str cell as console markup, and
    ids come from the wire."""
    if seed is None:
        return [slot_label(slot), seed_cell(None), DASH, *(DASH for _ in _SEED_COLUMNS)]
    values = []
    for name, column in _SEED_COLUMNS.items():
        absent = seed.DESCRIPTOR.fields_by_name[name].has_presence and not seed.HasField(name)
        values.append(column.text(None if absent else getattr(seed, name)))
    return [slot_label(slot), seed_cell(seed), Text(clip(seed.seed_id, 24) or DASH), *values]


def env_detail(
    snapshot: spb.SanctumSnapshot, env_id: int, group_id: str | None = None
) -> RenderableType:
    """Seed table, series sparklines and decisions for `env_id` (of `group_id`, or the
    first env with that id); a note when the env is gone."""
    env = next(
        (e for e in snapshot.envs.envs
         if e.env_id == env_id and (group_id is None or e.group_id == group_id)),
        None,
    )
    if env is None:
        return Text(f"env {env_id} is not in this run", style="dim")
    title = f"env {env_id}" + (f" · group {clip(env.group_id, 24)}" if env.group_id else "")
    table = Table(title=Text(title), box=None, expand=True, title_justify="left")
    for col in ("Slot", "Seed", "Seed id", *(c.label for c in _SEED_COLUMNS.values())):
        table.add_column(col)
    for slot in slot_ids(snapshot):
        table.add_row(*_seed_row(slot, env.seeds.get(slot)))
    known = env.HasField("last_epoch")
    last = [f"{f.label} {f.text(getattr(env.last_epoch, name) if known else None)}"
            for name, f in _EPOCH_FIELDS.items()]
    lines = [
        "  ".join([*last, f"best acc {num(env.best_accuracy if known else None, '.3g')}",
                   f"cum reward {num(env.cumulative_reward, '+.2f')}",
                   f"epoch {env.epoch}", f"episode {env.episode}"]),
    ]
    for name in _EPOCH_PLOTTED:
        values = series(snapshot, metric(tpb.EpochCompletedPayload, name), env.group_id,
                        env.env_id)
        lines.append(f"{_EPOCH_FIELDS[name].label:<9}{sparkline(values, 40)}")
    table.caption = Text("\n".join(lines))
    table.caption_justify = "left"
    decisions = Text("\nDECISIONS\n", style="bold")
    group = next((g for g in groups(snapshot) if g.group_id == env.group_id), None)
    mine = env_decisions(group_feed(snapshot, group), env_id, 70, group_id=env.group_id)
    decisions.append_text(mine)
    return Group(table, decisions)


class EnvDetailBody(Widget):
    """The detail itself, read from the app's current snapshot at each render."""

    DEFAULT_CSS = "EnvDetailBody { height: auto; }"

    def __init__(self, env_id: int, group_id: str | None) -> None:
        super().__init__(id="env-detail-body")
        self.env_id = env_id
        self.group_id = group_id

    def render(self) -> RenderableType:
        snapshot = getattr(self.app, "snapshot", None)
        if snapshot is None:
            return Text("no snapshot")
        return env_detail(snapshot, self.env_id, self.group_id)


class EnvDetailScreen(ModalScreen[None]):
    """Live detail of one env (redrawn whenever the app applies a snapshot); Escape / q
    closes it."""

    BINDINGS = [Binding("escape,q", "dismiss", "Close", id="env_detail.close")]

    def __init__(self, env_id: int, group_id: str | None = None) -> None:
        super().__init__()
        self.env_id = env_id
        self.group_id = group_id

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="env-detail") as box:
            box.border_title = f"ENV {self.env_id}"
            yield EnvDetailBody(self.env_id, self.group_id)

    def on_mount(self) -> None:
        self.watch(self.app, "snapshot", self._snapshot_changed, init=False)

    def _snapshot_changed(self) -> None:
        self.query_one(EnvDetailBody).refresh(layout=True)

    def action_dismiss(self, result: None = None) -> None:  # type: ignore[override]  # no result
        self.dismiss(result)
