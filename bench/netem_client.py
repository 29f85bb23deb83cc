"""The TUI's own connection code (tui_client.connection.watch) as a headless viewer, for
bench_netem: run inside a network namespace, it watches a run for some seconds and prints
one JSON line: [monotonic arrival time, delivery.events_applied] per snapshot the app
would have been handed.

    python -m bench.netem_client ADDRESS RUN_ID SECONDS HZ incremental|full
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time

from esper_common.channel import ChannelConfig
from tui_client.connection import Subscription, watch
from tui_client.messages import SnapshotReceived


async def _main(address: str, run_id: str, seconds: float, hz: float, incremental: bool
                ) -> list[tuple[float, int]]:
    arrivals: list[tuple[float, int]] = []

    def post(msg: object) -> None:
        if isinstance(msg, SnapshotReceived):
            arrivals.append((time.monotonic(), msg.snapshot.delivery.events_applied))

    sub = Subscription(ChannelConfig(address), run_id=run_id, max_hz=hz,
                       ask_when_several=False, incremental=incremental)
    task = asyncio.create_task(watch(sub, post))
    await asyncio.sleep(seconds)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return arrivals


if __name__ == "__main__":
    addr, run, secs, rate_hz, mode = sys.argv[1:6]
    got = asyncio.run(_main(addr, run, float(secs), float(rate_hz), mode == "incremental"))
    print(json.dumps(got))
