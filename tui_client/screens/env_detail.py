"""Env detail: one env's seeds (every field), its histories, and the controller's recent
decisions about it."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from esper.sanctum.v1 import sanctum_pb2 as spb
from tui_client.renderables.decisions import env_decisions, group_decisions
from tui_client.renderables.envs import seed_cell, slot_ids, slot_label
from tui_client.renderables.fmt import DASH, clip, compact_int, num, opt, sparkline
from tui_client.renderables.groups import groups


def env_detail(
    snapshot: spb.SanctumSnapshot, env_id: int, group_id: str | None = None
) -> RenderableType:
    """Seed table, history sparklines and decisions for `env_id` (of `group_id`, or the
    first env with that id); a note when the env is gone."""
    env = next(
        (
            e
            for e in snapshot.envs
            if e.env_id == env_id and (group_id is None or e.group_id == group_id)
        ),
        None,
    )
    if env is None:
        return Text(f"env {env_id} is not in this run", style="dim")
    title = f"env {env_id}" + (f" · group {clip(env.group_id, 24)}" if env.group_id else "")
    # Every cell is Text: Rich reads a str cell as console markup, and ids come from the wire.
    table = Table(title=Text(title), box=None, expand=True, title_justify="left")
    for col in ("Slot", "Seed", "Seed id", "Alpha", "ΔAcc", "Epochs", "Params", "Grad",
                "Contrib"):
        table.add_column(col)
    for slot in slot_ids(snapshot):
        seed = env.seeds.get(slot)
        if seed is None:
            table.add_row(slot_label(slot), seed_cell(None), *[DASH] * 7)
            continue
        table.add_row(
            slot_label(slot),
            seed_cell(seed),
            Text(clip(seed.seed_id, 24) or DASH),
            num(seed.alpha, ".2f"),
            num(seed.accuracy_delta, "+.2f"),
            str(seed.epochs_in_stage),
            compact_int(seed.params),
            num(opt(seed, "grad_norm"), ".3f"),
            num(opt(seed, "counterfactual"), "+.3f"),
        )
    table.caption = Text(
        f"acc {num(env.accuracy, '.1f')} (best {num(env.best_accuracy, '.1f')})  "
        f"reward {num(env.reward, '+.3f')}  cum {num(env.cumulative_reward, '+.2f')}  "
        f"epoch {env.epoch}  episode {env.episode}  val loss {num(env.val_loss, '.4f')}  "
        f"host params {compact_int(env.host_params) if env.host_params else DASH}\n"
        f"accuracy {sparkline(list(env.accuracy_history), 40)}\n"
        f"reward   {sparkline(list(env.reward_history), 40)}"
    )
    table.caption_justify = "left"
    decisions = Text("\nDECISIONS\n", style="bold")
    tamiyo = next((t for t in groups(snapshot) if t.group_id == env.group_id), None)
    feed = group_decisions(snapshot, tamiyo) if tamiyo else list(snapshot.recent_decisions)
    mine = env_decisions(feed, env_id, 70, group_id=env.group_id)
    decisions.append_text(mine)
    return Group(table, decisions)


class EnvDetailScreen(ModalScreen[None]):
    """Live detail of one env; Escape / q closes it."""

    BINDINGS = [Binding("escape,q", "dismiss", "Close", id="env_detail.close")]

    def __init__(
        self, env_id: int, snapshot: spb.SanctumSnapshot | None, group_id: str | None = None
    ) -> None:
        super().__init__()
        self.env_id = env_id
        self.group_id = group_id
        self._snapshot = snapshot

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="env-detail") as box:
            box.border_title = f"ENV {self.env_id}"
            yield Static(id="env-detail-body")

    def on_mount(self) -> None:
        self.show(self._snapshot)

    def show(self, snapshot: spb.SanctumSnapshot | None) -> None:
        self._snapshot = snapshot
        body = self.query_one("#env-detail-body", Static)
        body.update(
            env_detail(snapshot, self.env_id, self.group_id) if snapshot else Text("no snapshot")
        )

    def action_dismiss(self, result: None = None) -> None:  # type: ignore[override]
        self.dismiss(result)
