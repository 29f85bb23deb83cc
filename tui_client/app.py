"""The esper-tui Textual app: layout, key bindings, and the conflating update loop.

The network worker posts messages; the app keeps only the newest snapshot and applies
it on a timer at the display rate (≤ 10 Hz), so bursts never queue redraws or block input.
Applying it sets the `snapshot` reactive; every panel is bound to it (and to `group_id`,
the policy group shown) with `data_bind` and draws itself from it in `render()`.

Layout: a grid of panels on terminals of at least 100×36 (decision cards beside the event
log; a taller bottom row from 160 columns). Smaller terminals (80×24 over SSH) show one
panel at a time under a tab strip: tab / shift+tab or a click switch panels, and keys
that act on a panel (j/k, 1–9) bring it forward.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal
from textual.reactive import reactive
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import DataTable, Footer, Tab, Tabs

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper_common.channel import SanctumError
from esper_common.diagnose import describe
from tui_client.commands import EsperCommands
from tui_client.config import MAX_UI_HZ, TuiOptions
from tui_client.connection import list_runs, series, watch
from tui_client.messages import ConnectionChanged, HeartbeatReceived, RunsListed, SnapshotReceived
from tui_client.panels import COMPACT_CLASSES, PANELS
from tui_client.renderables.envs import parse_row_key, row_key
from tui_client.renderables.fmt import clip
from tui_client.renderables.groups import group_label, group_name, groups, next_group
from tui_client.screens.env_detail import EnvDetailScreen
from tui_client.screens.help import HelpScreen, key_rows
from tui_client.screens.plot import PlotScreen
from tui_client.screens.run_picker import RunPickerScreen, Search
from tui_client.state import ConnState, Freshness, View
from tui_client.widgets.decisions_panel import DecisionsPanel
from tui_client.widgets.delivery_panel import DeliveryPanel
from tui_client.widgets.env_table import EnvTable
from tui_client.widgets.event_log import EventLog
from tui_client.widgets.heads_panel import HeadsPanel
from tui_client.widgets.metrics_panel import MetricsPanel
from tui_client.widgets.ppo_health import PpoHealth
from tui_client.widgets.run_header import RunHeader
from tui_client.widgets.status_banner import StatusBanner


def _env_bindings() -> list[Binding]:
    return [
        Binding(str(n), f"focus_env_row({n})", f"Focus env #{n}", id=f"focus_env_{n}", show=False)
        for n in range(1, 10)
    ]


class EsperTui(App[None]):
    """Live dashboard of one sanctum run."""

    CSS_PATH = "app.tcss"
    TITLE = "esper-tui"
    COMMANDS = App.COMMANDS | {EsperCommands}
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-normal"), (160, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (36, "-tall")]
    BINDINGS = [
        Binding("q", "quit", "Quit", id="quit"),
        # Like htop/k9s: Ctrl-C quits (Textual's default only asks to press ctrl+q).
        Binding("ctrl+c", "interrupt", "Quit", id="quit_ctrl_c", show=False, priority=True),
        Binding("question_mark", "help", "Help", id="help", key_display="?"),
        Binding("j", "env_cursor(1)", "Next env", id="env_next"),
        Binding("k", "env_cursor(-1)", "Prev env", id="env_prev"),
        Binding("enter", "env_detail", "Env detail", id="env_detail"),
        Binding("r", "pick_run", "Runs", id="pick_run"),
        Binding("p", "plot", "Plot", id="plot"),
        Binding("g", "cycle_group", "Next group", id="cycle_group"),
        Binding("ctrl+r", "reconnect", "Reconnect", id="reconnect", show=False),
        *_env_bindings(),
    ]

    # The app draws nothing itself (repaint=False): the panels bound to these redraw.
    #: The newest applied snapshot of the watched run (None before the first). Set at most
    #: at the display rate; every panel is bound to it.
    snapshot: reactive[spb.SanctumSnapshot | None] = reactive(
        None, always_update=True, repaint=False)
    #: Policy group shown in banner / heads / PPO / decisions (None = the primary).
    group_id: reactive[str | None] = reactive(None, repaint=False)
    #: The snapshot with connection state and the clock, for the header and the delivery
    #: panel (their ages change between snapshots: refreshed every second too).
    view: reactive[View | None] = reactive(None, always_update=True, repaint=False)

    def __init__(
        self, options: TuiOptions | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        """`options=None` runs without a network worker (tests and benchmarks feed snapshots
        with `apply_snapshot`); `clock` gives wall-clock seconds (frozen in snapshot tests)."""
        super().__init__()
        self.options = options
        self.clock = clock
        self.run_id = options.run if options else ""
        self._pending: spb.SanctumSnapshot | None = None
        self._fresh: Freshness | None = None
        self.conn: ConnState = "connecting"
        #: Why the connection is down (shown in the header and on the help screen).
        self.conn_detail = ""
        self._outage_notified = False
        self._watching = False
        self.applied_versions = 0
        #: On-arrival redraws, at most ui_hz a second (see _apply_soon).
        self._min_gap = 1.0 / (options.ui_hz if options else MAX_UI_HZ)
        self._last_apply = -math.inf
        self._apply_timer: Timer | None = None
        self.current_panel = "envs"

    # -- layout ---------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        state = (EsperTui.snapshot, EsperTui.group_id)
        yield RunHeader(id="header").data_bind(EsperTui.view)
        yield StatusBanner(id="banner").data_bind(*state)
        yield Tabs(
            *(Tab(label, id=f"tab-{pid}") for pid, label in PANELS),
            active=f"tab-{self.current_panel}",
            id="panel-tabs",
        )
        with Container(id="main"):
            yield HeadsPanel(id="heads", classes="panel").data_bind(*state)
            yield PpoHealth(id="ppo", classes="panel").data_bind(*state)
            yield EnvTable(id="envs", classes="panel -current").data_bind(EsperTui.snapshot)
            with Horizontal(id="bottom"):
                yield EventLog(id="events", classes="panel").data_bind(EsperTui.snapshot)
                yield DecisionsPanel(id="decisions", classes="panel").data_bind(*state)
                yield DeliveryPanel(id="delivery", classes="panel").data_bind(EsperTui.view)
                yield MetricsPanel(id="metrics", classes="panel -none").data_bind(*state)
        yield Footer()

    def on_mount(self) -> None:
        # Held directly: App.query_one searches the *active* screen, which may be a modal.
        self.env_table = self.query_one(EnvTable)
        self.tabs = self.query_one("#panel-tabs", Tabs)
        self.main_screen = self.screen
        self.watch(self.main_screen, "focused", self._focused_changed, init=False)
        self._refresh_live()
        self.set_interval(1.0, self._refresh_live, name="liveness")
        self.env_table.focus()
        if self.options is not None:
            self.subscribe()

    @property
    def target(self) -> str:
        return self.options.server if self.options else "offline"

    def make_view(self) -> View:
        return View(self.snapshot, self.conn, self._fresh, self.clock(), self.target,
                    self.conn_detail)

    # -- network --------------------------------------------------------------------------
    @work(exclusive=True, group="net", exit_on_error=False)
    async def subscribe(self, ask: bool = True) -> None:
        """Watch the chosen run until the app exits (reconnecting by itself). With no run
        chosen and `ask`, a server holding several runs makes the run picker appear."""
        assert self.options is not None
        self._watching = True
        try:
            await watch(self.options.subscription(self.run_id, ask=ask), self.post_message)
        finally:
            self._watching = False

    def on_snapshot_received(self, message: SnapshotReceived) -> None:
        snap = message.snapshot
        age = snap.run.seconds_since_last_event if snap.run.HasField("last_event_time") else None
        self._fresh = Freshness(age, self.clock())
        self._pending = snap  # latest wins: older unapplied snapshots are dropped
        self._apply_soon()

    def _apply_soon(self) -> None:
        """Redraw on arrival when the last redraw is at least 1/ui_hz old; otherwise once
        that much time has passed (snapshots arriving meanwhile are coalesced)."""
        if self._apply_timer is not None:
            return
        wait = self._last_apply + self._min_gap - time.monotonic()
        if wait <= 0:
            self._apply_pending()
        else:
            self._apply_timer = self.set_timer(wait, self._apply_due, name="apply")

    def _apply_due(self) -> None:
        self._apply_timer = None
        self._apply_pending()

    def on_heartbeat_received(self, message: HeartbeatReceived) -> None:
        self._fresh = Freshness(message.heartbeat.seconds_since_last_event, self.clock())

    def on_connection_changed(self, message: ConnectionChanged) -> None:
        previous, self.conn = self.conn, message.state
        detail = clip(message.detail, 300)  # the server's words: plain text, bounded
        self.conn_detail = detail if message.state in ("disconnected", "error") else ""
        if message.state == "disconnected" and not self._outage_notified:
            self._outage_notified = True
            retry = f" Retrying every ≤{self.options.backoff.maximum:g}s." if self.options else ""
            self.notify(
                f"Lost sanctum at {self.target}: {detail}.{retry}",
                title="Disconnected",
                severity="warning",
                markup=False,
            )
        elif message.state == "connected" and previous == "disconnected":
            self._outage_notified = False
            self.notify(f"Reconnected to {self.target}.", title="Connected", markup=False)
        elif message.state == "error":
            self.notify(detail, title="Cannot watch", severity="error", timeout=30, markup=False)
        self._refresh_live()

    def on_runs_listed(self, message: RunsListed) -> None:
        self.push_screen(RunPickerScreen(message.runs, message.total, self._search_runs()),
                         self._run_chosen)

    def _run_chosen(self, run_id: str | None) -> None:
        """Picker result: watch the chosen run; on cancel keep the current one, or (first
        start) watch the server's most recent run."""
        if run_id is None:
            if self._watching:
                return
            self.notify("No run chosen: watching the most recent one.", title="Runs")
            self.subscribe(ask=False)
            return
        self.run_id = run_id
        self._pending = None
        self.snapshot = None
        self.subscribe()

    # -- drawing --------------------------------------------------------------------------
    def apply_snapshot(self, snapshot: spb.SanctumSnapshot) -> None:
        """Show `snapshot` now, whenever the last redraw was (tests and benchmarks)."""
        if self.conn == "connecting":
            self.conn = "connected"
        self.on_snapshot_received(SnapshotReceived(snapshot))
        self._apply_pending()

    def _apply_pending(self) -> None:
        """Apply the newest received snapshot, if any (older ones were dropped when it
        arrived)."""
        snapshot, self._pending = self._pending, None
        if snapshot is None:
            return
        self._last_apply = time.monotonic()
        self.snapshot = snapshot
        self.applied_versions += 1
        self._refresh_live()

    def watch_snapshot(self, old: spb.SanctumSnapshot | None,
                       new: spb.SanctumSnapshot | None) -> None:
        """`g` shows in the footer only with several groups: re-check the bindings when the
        number of groups changes (refreshing them on every snapshot rebuilds the footer)."""
        if (len(groups(old)) > 1) != (len(groups(new)) > 1):
            self.refresh_bindings()

    def _refresh_live(self) -> None:
        """Header badge and delivery lag: they age between snapshots too."""
        self.view = self.make_view()

    # -- panels -----------------------------------------------------------------------
    @property
    def compact(self) -> bool:
        """Whether the terminal is small enough that panels show one at a time."""
        return any(self.main_screen.has_class(c) for c in COMPACT_CLASSES)

    def panel(self, panel_id: str) -> Widget:
        return self.main_screen.query_one(f"#{panel_id}")

    def show_panel(self, panel_id: str) -> None:
        """Bring `panel_id` forward (its tab, on small terminals) and focus it."""
        self._set_current(panel_id)
        self.panel(panel_id).focus()

    def _set_current(self, panel_id: str) -> None:
        if panel_id == self.current_panel:
            return
        self.panel(self.current_panel).remove_class("-current")
        panel = self.panel(panel_id)
        panel.add_class("-current")
        bottom = self.main_screen.query_one("#bottom")
        bottom.set_class(panel.parent is bottom, "-current")
        self.current_panel = panel_id
        self.tabs.active = f"tab-{panel_id}"

    @on(Tabs.TabActivated, "#panel-tabs")
    def _tab_activated(self, event: Tabs.TabActivated) -> None:
        panel_id = (event.tab.id or "").removeprefix("tab-")
        if panel_id and panel_id != self.current_panel:
            self.show_panel(panel_id)

    def _focused_changed(self, widget: Widget | None) -> None:
        """A panel that gets focus (click, j/k, 1–9) becomes the current tab."""
        for node in widget.ancestors_with_self if widget is not None else ():
            if node.has_class("panel") and node.id:
                self._set_current(node.id)
                return

    def _cycle_panel(self, delta: int) -> None:
        ids = [pid for pid, _ in PANELS]
        i = ids.index(self.current_panel) if self.current_panel in ids else 0
        self.show_panel(ids[(i + delta) % len(ids)])

    def action_focus_next(self) -> None:
        """tab: on small terminals the next panel's tab, else Textual's focus chain."""
        if self.screen is self.main_screen and self.compact:
            self._cycle_panel(1)
        else:
            super().action_focus_next()

    def action_focus_previous(self) -> None:
        if self.screen is self.main_screen and self.compact:
            self._cycle_panel(-1)
        else:
            super().action_focus_previous()

    # -- actions --------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """`g` only means something (and only shows in the footer) with several groups."""
        if action == "cycle_group":
            return len(groups(self.snapshot)) > 1
        return True

    def action_cycle_group(self) -> None:
        """Show the next A/B policy group's Tamiyo state (banner, heads, PPO, decisions)."""
        self.show_group(next_group(self.snapshot, self.group_id))

    def show_group(self, group_id: str | None) -> None:
        """Show policy group `group_id` (None = the primary group)."""
        self.group_id = group_id
        label = group_label(self.snapshot, group_id)
        if label:
            self.notify(f"Showing {label}.", title="Policy group", timeout=2, markup=False)

    def group_ids(self) -> list[tuple[str | None, str]]:
        """(id for show_group, display name) of every policy group, primary first."""
        all_groups = groups(self.snapshot)
        return [(None if i == 0 else g.group_id, group_name(g)) for i, g in enumerate(all_groups)]

    def action_help(self) -> None:
        bindings = [b for b in self.BINDINGS if isinstance(b, Binding)]
        self.push_screen(HelpScreen(key_rows(bindings), connection=self.make_view().connection))

    def action_env_cursor(self, delta: int) -> None:
        table = self.env_table
        table.focus()
        table.move_cursor(row=max(0, table.cursor_row + delta))

    def action_focus_env_row(self, n: int) -> None:
        table = self.env_table
        if n > table.row_count:
            self.notify(f"There is no env #{n} (this run has {table.row_count}).")
            return
        table.focus()
        table.move_cursor(row=n - 1)

    def focus_env(self, env_id: int, group_id: str = "") -> None:
        """Select the row of `env_id` (of `group_id`) in the env table."""
        table = self.env_table
        try:
            row = table.get_row_index(row_key(group_id, env_id))
        except Exception:
            self.notify(f"env {env_id} is not shown", severity="warning")
            return
        table.focus()
        table.move_cursor(row=row)

    def action_env_detail(self) -> None:
        selected = self.env_table.selected_env()
        if selected is None:
            self.notify("No env to show yet.")
            return
        group_id, env_id = selected
        self.open_env_detail(env_id, group_id)

    def open_env_detail(self, env_id: int, group_id: str | None = None) -> None:
        self.push_screen(EnvDetailScreen(env_id, group_id))

    @on(DataTable.RowSelected, "#envs")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            group_id, env_id = parse_row_key(event.row_key.value)
            self.open_env_detail(env_id, group_id)

    def action_pick_run(self) -> None:
        if self.options is None:
            self.notify("Not connected to a server.")
            return
        self._list_runs()

    @work(exclusive=False, group="runs", exit_on_error=False)
    async def _list_runs(self) -> None:
        assert self.options is not None  # action_pick_run calls this only with a server
        try:
            listed = await list_runs(self.options.channel())
        except SanctumError as exc:  # say why, keep the dashboard
            why = describe(exc, self.options.channel())
            self.notify(f"Cannot list runs: {clip(why, 300)}", severity="error", markup=False)
            return
        if not listed.runs:
            self.notify("The server has no runs yet.")
            return
        self.push_screen(RunPickerScreen(list(listed.runs), listed.total_size,
                                         self._search_runs()), self._run_chosen)

    def _search_runs(self) -> Search | None:
        """The run picker's server-side search (None without a server)."""
        if self.options is None:
            return None
        channel = self.options.channel()

        async def search(text: str, statuses: list[int]) -> spb.ListRunsResponse:
            return await list_runs(channel, filter_text=text, statuses=statuses)

        return search

    def action_plot(self) -> None:
        """The plot screen of the watched run (tui_client.screens.plot)."""
        run_id = self.snapshot.run_id if self.snapshot is not None else self.run_id
        if self.options is None or not run_id:
            self.notify("Nothing to plot yet: no run is being watched.")
            return
        channel = self.options.channel()

        async def fetch(request: spb.SeriesRequest) -> spb.SeriesResponse:
            return await series(channel, request)

        shown = groups(self.snapshot)
        group_id = self.group_id if self.group_id is not None else (
            shown[0].group_id if shown else "")
        self.push_screen(PlotScreen(run_id, fetch, group_id=group_id,
                                    pick_run=self._pick_overlay))

    @work(exclusive=False, group="runs", exit_on_error=False)
    async def _pick_overlay(self, chosen: Callable[[str | None], None]) -> None:
        """A run picker whose choice goes to `chosen` (the plot screen's overlay)."""
        assert self.options is not None
        try:
            reply = await list_runs(self.options.channel())
        except SanctumError as exc:
            self.notify(f"Cannot list runs: {clip(str(exc), 300)}", severity="error",
                        markup=False)
            return
        self.push_screen(RunPickerScreen(list(reply.runs), reply.total_size,
                                         self._search_runs()), chosen)

    def action_interrupt(self) -> None:
        """Ctrl-C: quit with status 130 like an interrupted command (`esper up` reads it)."""
        self.exit(return_code=130)

    def action_reconnect(self) -> None:
        if self.options is not None:
            self.subscribe()
