"""A TCP proxy that delays every byte by a fixed time in each direction (order kept), for
kernels without `sch_netem`: with a `tbf` rate limit on the link it stands in for
`netem rate ... delay ...`. Used by bench/netem_client.py inside the viewer's namespace."""

from __future__ import annotations

import asyncio
import contextlib


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                delay: float) -> None:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def deliver() -> None:
        while True:
            due, data = await queue.get()
            if not data:
                break
            await asyncio.sleep(max(0.0, due - loop.time()))
            writer.write(data)
            await writer.drain()
        with contextlib.suppress(OSError):
            writer.close()

    task = asyncio.create_task(deliver())
    try:
        while data := await reader.read(65536):
            queue.put_nowait((loop.time() + delay, data))
    except OSError:
        pass
    queue.put_nowait((loop.time() + delay, b""))
    with contextlib.suppress(OSError, asyncio.CancelledError):
        await task


async def start(upstream_host: str, upstream_port: int, delay: float
                ) -> tuple[asyncio.Server, int]:
    """Listen on 127.0.0.1 (a free port, returned); each connection is relayed to the
    upstream with `delay` seconds added each way."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(upstream_host, upstream_port)
        await asyncio.gather(_pump(reader, up_writer, delay), _pump(up_reader, writer, delay))

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]
