"""Tamiyo status banner (seed Task 6.1): status class, compile title, memory percent."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive

from tui_client.renderables.banner import banner_text, banner_title, throughput_text
from tui_client.renderables.groups import titled
from tui_client.renderables.health import Verdict, evaluate
from tui_client.widgets.bound import SnapshotPanel, set_title

STATUS_CLASSES = ("status-ok", "status-warning", "status-critical", "status-warmup")


class StatusBanner(SnapshotPanel):
    """One bordered line; its CSS class (status-*) colours the border by sanctum's health
    verdict.
    With several policy groups the title also names the group shown (`g` cycles); the
    subtitle shows the rollout throughput."""

    #: Health of the group shown (None before the first snapshot); drives the CSS class.
    verdict: reactive[Verdict | None] = reactive(None)

    def on_mount(self) -> None:
        self.border_title = Text(banner_title(None))
        self.add_class("status-warmup")

    def compute_verdict(self) -> Verdict | None:
        return evaluate(self.snapshot, self.group) if self.snapshot is not None else None

    def watch_verdict(self, verdict: Verdict | None) -> None:
        self.remove_class(*STATUS_CLASSES)
        self.add_class(f"status-{verdict.status if verdict else 'warmup'}")

    def state_changed(self) -> None:
        set_title(self, Text(titled(banner_title(self.snapshot), self.snapshot, self.group_id)))
        set_title(self, Text(throughput_text(self.group)), "border_subtitle")

    def draw(self) -> Text:
        return banner_text(self.snapshot, self.group, self.verdict)
