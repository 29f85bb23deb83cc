"""Separate hosts on one machine: Linux network namespaces joined by veth links.

A hub namespace (sanctum) gets one veth link per spoke (trainer, watcher), each its own
/24, so traffic between parts crosses a real interface with real IP addresses — never
loopback — and a link can be cut with `ip link set ... down`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field


def netns_unavailable() -> str | None:
    """Why namespaces cannot be used here, or None when they can."""
    if os.geteuid() != 0:
        return "network namespaces need root (CI runs as root)"
    if shutil.which("ip") is None:
        return "iproute2 `ip` is not installed"
    probe = f"esper-probe-{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"`ip netns add` failed: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@dataclass
class Topology:
    """Hub-and-spoke hosts. `spoke_ip[name]` reaches the hub at `hub_ip[name]`."""

    tag: str
    spokes: tuple[str, ...]
    hub: str = "sanctum"
    hub_ip: dict[str, str] = field(default_factory=dict)
    spoke_ip: dict[str, str] = field(default_factory=dict)

    def ns(self, host: str) -> str:
        return f"es{self.tag}-{host}"

    def hub_if(self, spoke: str) -> str:
        return f"h{self.tag}{spoke[:3]}"

    def up(self) -> None:
        _ip("netns", "add", self.ns(self.hub))
        _ip("-n", self.ns(self.hub), "link", "set", "lo", "up")
        for i, spoke in enumerate(self.spokes, start=1):
            ns, hub_if, spoke_if = self.ns(spoke), self.hub_if(spoke), f"s{self.tag}{spoke[:3]}"
            _ip("netns", "add", ns)
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("link", "add", hub_if, "type", "veth", "peer", "name", spoke_if)
            _ip("link", "set", hub_if, "netns", self.ns(self.hub))
            _ip("link", "set", spoke_if, "netns", ns)
            self.hub_ip[spoke] = f"10.201.{i}.1"
            self.spoke_ip[spoke] = f"10.201.{i}.2"
            _ip("-n", self.ns(self.hub), "addr", "add", f"{self.hub_ip[spoke]}/24", "dev", hub_if)
            _ip("-n", ns, "addr", "add", f"{self.spoke_ip[spoke]}/24", "dev", spoke_if)
            _ip("-n", self.ns(self.hub), "link", "set", hub_if, "up")
            _ip("-n", ns, "link", "set", spoke_if, "up")

    def set_link(self, spoke: str, up: bool) -> None:
        """Cut (or restore) the link between the hub and one spoke."""
        _ip("-n", self.ns(self.hub), "link", "set", self.hub_if(spoke), "up" if up else "down")

    def exec_prefix(self, host: str) -> list[str]:
        return ["ip", "netns", "exec", self.ns(host)]

    def down(self) -> None:
        for host in (self.hub, *self.spokes):
            subprocess.run(["ip", "netns", "pids", self.ns(host)], capture_output=True)
            subprocess.run(["ip", "netns", "del", self.ns(host)], capture_output=True)
