"""A TUI over a constrained link: 1 Mbit/s and 100 ms RTT, full snapshots vs deltas (not a test).

A sanctum process runs in this (the host's) network namespace; the TUI's connection code
(bench/netem_client.py: tui_client.connection.watch, headless) runs in a second namespace
joined by a veth pair whose both ends shape egress with `tc qdisc ... netem rate 1mbit
delay 50ms` (100 ms round trip). The original's 12-env mix streams into sanctum at R ev/s
over loopback (not through the link) while the viewer watches at 10 Hz with full snapshots
(as before incremental snapshots), with deltas, and with deltas and gzip (the TUI's
default), in interleaved rounds. Rows: update age p99 (from the Ingest call
carrying an event to the first update the viewer holds with it: it includes the 100 ms
slot and the link's 50 ms), updates/s delivered, and bytes per update on the wire (the
veth's transmitted bytes: TCP/IP, HTTP/2 and gRPC framing included). Needs root and
iproute2 (`ip`, `tc`); the rows say why when it cannot run. On a kernel without the netem
qdisc (sch_netem; this machine's VM kernel lacks it) the link is shaped with `tbf rate
1mbit` each way and the 50 ms each way is added by a user-space proxy in the viewer's
namespace (bench/delay_proxy.py); the rows name the shaping used.

    python -m bench [--quick] tui_netem
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import Row, percentile, register, row
from bench.live import Feeder, latencies
from testkit import SanctumProcess
from testkit.original_mix import original_mix

HZ = 10.0
RATE = 500
GOAL_BYTES = 3000
NETEM = ("netem", "rate", "1mbit", "delay", "50ms")
TBF = ("tbf", "rate", "1mbit", "burst", "32kbit", "latency", "400ms")
DELAY_S = 0.05
NS = f"esper-netem-{os.getpid()}"
HOST_IF, NS_IF = f"enh{os.getpid() % 100000}", f"enn{os.getpid() % 100000}"
HOST_IP, NS_IP = "10.203.0.1", "10.203.0.2"


def _run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, text=True)


def unavailable() -> str | None:
    """Why the namespaces and shaping cannot be set up here, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces and tc)"
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            return f"`{tool}` is missing: apt-get install iproute2"
    return None


def link_up() -> str:
    """The namespace and the shaped veth pair; which shaping was used ("netem" or "tbf")."""
    _run("ip", "netns", "add", NS)
    _run("ip", "link", "add", HOST_IF, "type", "veth", "peer", "name", NS_IF)
    _run("ip", "link", "set", NS_IF, "netns", NS)
    _run("ip", "addr", "add", f"{HOST_IP}/24", "dev", HOST_IF)
    _run("ip", "-n", NS, "addr", "add", f"{NS_IP}/24", "dev", NS_IF)
    _run("ip", "link", "set", HOST_IF, "up")
    _run("ip", "-n", NS, "link", "set", NS_IF, "up")
    _run("ip", "-n", NS, "link", "set", "lo", "up")
    kind = "netem"
    try:
        _run("tc", "qdisc", "add", "dev", HOST_IF, "root", *NETEM)
    except subprocess.CalledProcessError:  # no sch_netem in this kernel
        kind = "tbf"
    shaping = NETEM if kind == "netem" else TBF
    if kind == "tbf":
        _run("tc", "qdisc", "add", "dev", HOST_IF, "root", *shaping)
    _run("ip", "netns", "exec", NS, "tc", "qdisc", "add", "dev", NS_IF, "root", *shaping)
    return kind


def link_down() -> None:
    subprocess.run(["ip", "link", "del", HOST_IF], capture_output=True)
    subprocess.run(["ip", "netns", "del", NS], capture_output=True)


def _tx_bytes() -> int:
    return int(Path(f"/sys/class/net/{HOST_IF}/statistics/tx_bytes").read_text())


MODES = ("full", "delta", "delta+gzip")


def netem_round(tmp: str, name: str, mode: str, seconds: float, delay: float
                ) -> dict[str, float]:
    """One viewer round behind the shaped link; figures over its last `seconds` - 2 s."""
    events = original_mix(name, n_batches=max(1, int(RATE * (seconds + 4) / 3830) + 1))
    # A private veth between two namespaces of this machine: no token needed.
    server = SanctumProcess(str(Path(tmp) / f"{name}.sqlite"),
                            extra_args=["--insecure-listen-all"])
    server.address = f"{HOST_IP}:{server.port}"
    with server:
        feeder = Feeder(server.address, name, chunk=RATE // 20, period_s=0.05, events=events)
        feeder.send(100)
        viewer = subprocess.Popen(
            ["ip", "netns", "exec", NS, sys.executable, "-m", "bench.netem_client",
             server.address, name, str(seconds), str(HZ),
             mode, str(delay)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            cwd=Path(__file__).resolve().parents[1])
        feeder.start()
        time.sleep(2.0)  # connect and settle
        start, tx0, first = time.monotonic(), _tx_bytes(), len(feeder.marks)
        out, err = viewer.communicate(timeout=seconds + 60)
        end, tx1 = time.monotonic(), _tx_bytes()
        feeder.stop()
        last = len(feeder.marks)
    if viewer.returncode != 0:
        raise RuntimeError(f"viewer failed: {err.strip()[-2000:]}")
    arrivals = [(t, n) for t, n in json.loads(out)]
    marks = [m for m in feeder.marks[first:last] if m[0] < end - 1.0]
    lat, _, missing = latencies([arrivals], marks, HZ)
    window = [a for a in arrivals if start <= a[0] < end]
    return {"p99": percentile(lat, 0.99) * 1e3, "p50": percentile(lat, 0.5) * 1e3,
            "rate": len(window) / (end - start),
            "bytes": (tx1 - tx0) / max(1, len(window)), "missing": missing}


@register("tui_netem")
def bench_tui_netem(quick: bool) -> list[Row]:
    why = unavailable()
    where = f"1 Mbit/s, 100 ms RTT, mix at {RATE:,} ev/s, {HZ:g} Hz"
    if why is not None:
        return [row(f"TUI over {where}", "not run", "", why, "", None)]
    seconds, rounds = (8.0, 1) if quick else (15.0, 2)
    results: dict[str, list[dict[str, float]]] = {m: [] for m in MODES}
    link_down()
    try:
        kind = link_up()
        delay = 0.0 if kind == "netem" else DELAY_S
        if kind == "tbf":
            where += " (tbf + 50 ms proxy each way: no sch_netem)"
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(rounds):
                for mode in MODES:
                    name = f"netem-{mode.replace('+', '-')}-{r}"
                    results[mode].append(netem_round(tmp, name, mode, seconds, delay))
    finally:
        link_down()
    avg = {m: {k: sum(x[k] for x in results[m]) / len(results[m]) for k in results[m][0]}
           for m in MODES}
    full = avg["full"]
    rows = []
    for mode in MODES[1:]:
        got, gzip = avg[mode], mode.endswith("gzip")
        rows += [
            row(f"TUI update age p99, {mode}, {where}", got["p99"], "ms",
                f"full {full['p99']:,.0f} ms (p50 {full['p50']:,.0f}; {mode} p50 "
                f"{got['p50']:,.0f})", "stays live", None),
            row(f"TUI updates/s, {mode}, {where}", got["rate"], "/s",
                f"full {full['rate']:.2f}/s", f"{HZ:g}/s asked", None),
            row(f"TUI wire bytes/update, {mode}, {where}", got["bytes"], "bytes",
                f"full {full['bytes']:,.0f} bytes", f"<= {GOAL_BYTES:,}" if gzip else "",
                got["bytes"] <= GOAL_BYTES if gzip else None),
        ]
    return rows
