"""The TUI's own connection code (tui_client.connection.watch) as a headless viewer, for
bench_netem: run inside a network namespace, it watches a run for some seconds and prints
one JSON line: [monotonic arrival time, delivery.events_applied] per snapshot the app
would have been handed. With DELAY_S > 0 it connects through bench.delay_proxy (for
kernels without sch_netem).

    python -m bench.netem_client ADDRESS RUN_ID SECONDS HZ full|delta|delta+gzip [DELAY_S]
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time

from bench import delay_proxy
from esper_common.channel import ChannelConfig
from tui_client.connection import Subscription, watch
from tui_client.messages import SnapshotReceived


async def _main(address: str, run_id: str, seconds: float, hz: float, mode: str,
                delay: float) -> list[tuple[float, int]]:
    arrivals: list[tuple[float, int]] = []
    if delay > 0:
        host, port = address.rsplit(":", 1)
        _, local = await delay_proxy.start(host, int(port), delay)
        address = f"127.0.0.1:{local}"

    def post(msg: object) -> None:
        if isinstance(msg, SnapshotReceived):
            arrivals.append((time.monotonic(), msg.snapshot.delivery.events_applied))

    sub = Subscription(ChannelConfig(address), run_id=run_id, max_hz=hz,
                       ask_when_several=False, incremental=mode.startswith("delta"),
                       compressed=mode.endswith("gzip"))
    task = asyncio.create_task(watch(sub, post))
    await asyncio.sleep(seconds)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return arrivals


if __name__ == "__main__":
    addr, run, secs, rate_hz, mode = sys.argv[1:6]
    delay_s = float(sys.argv[6]) if len(sys.argv) > 6 else 0.0
    got = asyncio.run(_main(addr, run, float(secs), float(rate_hz), mode, delay_s))
    print(json.dumps(got))
