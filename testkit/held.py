"""Hold a live sanctum's acknowledgements while its writes go on (window tests).

    with ThreadedSanctum() as s, HeldAcks(s) as held:
        ...                         # batches are validated and written, none acknowledged
        assert held.submitted == 8  # what the server took in
        held.release()              # every batch resolves, in order
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from testkit.servers import ThreadedSanctum


class HeldAcks:
    """Wraps the server's IngestPipeline.submit: each batch is still validated, planned and
    written as usual, but its future resolves only after `release()`."""

    def __init__(self, server: ThreadedSanctum) -> None:
        assert server.server is not None and server.server.pipeline is not None
        self._pipeline = server.server.pipeline
        self._gate = threading.Event()
        self.submitted = 0

    def __enter__(self) -> HeldAcks:
        original = self._pipeline.submit

        def held(*args: Any, **kw: Any) -> asyncio.Future[Any]:
            inner = original(*args, **kw)
            self.submitted += 1
            outer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

            async def resolve() -> None:
                while not self._gate.is_set():
                    await asyncio.sleep(0.005)
                try:
                    outer.set_result(await inner)
                except Exception as exc:
                    outer.set_exception(exc)

            asyncio.ensure_future(resolve())
            return outer

        self._pipeline.submit = held  # type: ignore[method-assign]  # see the class docstring
        return self

    def release(self) -> None:
        self._gate.set()

    def __exit__(self, *exc: object) -> None:
        self.release()
        del self._pipeline.submit  # the class's method again
