"""Tamiyo status banner (seed Task 6.1): status class, compile title, memory percent."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from esper.sanctum.v1 import sanctum_pb2 as spb
from tui_client.renderables.banner import banner_text, banner_title, throughput_text
from tui_client.renderables.health import Verdict, evaluate

STATUS_CLASSES = ("status-ok", "status-warning", "status-critical", "status-warmup")


class StatusBanner(Static):
    """One bordered line; its CSS class (status-*) colours the border by overall status.
    With several policy groups the title also names the group shown (`g` cycles); the
    subtitle shows the rollout throughput."""

    def on_mount(self) -> None:
        self.border_title = Text(banner_title(None))
        self.add_class("status-warmup")

    def show(self, snapshot: spb.SanctumSnapshot | None, group: str = "") -> Verdict | None:
        verdict = evaluate(snapshot) if snapshot is not None else None
        self.remove_class(*STATUS_CLASSES)
        self.add_class(f"status-{verdict.status if verdict else 'warmup'}")
        title = banner_title(snapshot)
        self.border_title = Text(f"{title} · {group}" if group else title)
        self.border_subtitle = Text(throughput_text(snapshot))
        self.update(banner_text(snapshot, verdict))
        return verdict
