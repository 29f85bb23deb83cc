"""A WatchSnapshots subscriber on its own thread, for tests (real channel, sync stub)."""

from __future__ import annotations

import threading
import time

import grpc

from esper.sanctum.v2 import sanctum_pb2 as spb
from testkit import ThreadedSanctum


class Watcher:
    """Collects (arrival time, WatchSnapshotsResponse) until closed or the stream ends."""

    def __init__(
        self,
        server: ThreadedSanctum,
        run_id: str = "",
        max_hz: float = 0.0,
        subscriber_options: bool = True,
        token: str | None = None,
        incremental: bool = False,
    ) -> None:
        self.channel = server.channel(subscriber=subscriber_options, token=token)
        self.stub = server.stub(self.channel)
        self.call = self.stub.WatchSnapshots(
            spb.WatchSnapshotsRequest(run_id=run_id, max_hz=max_hz, incremental=incremental),
            metadata=server.channel_config(token=token).metadata(),
        )
        self.messages: list[tuple[float, spb.WatchSnapshotsResponse]] = []
        self.error: grpc.RpcError | None = None
        self.ended = threading.Event()
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for msg in self.call:
                with self._cond:
                    self.messages.append((time.monotonic(), msg))
                    self._cond.notify_all()
        except grpc.RpcError as err:
            self.error = err
        finally:
            self.ended.set()
            with self._cond:
                self._cond.notify_all()

    def snapshots(self) -> list[spb.SanctumSnapshot]:
        with self._cond:
            return [m.snapshot for _, m in self.messages if m.HasField("snapshot")]

    def heartbeats(self) -> list[spb.Heartbeat]:
        with self._cond:
            return [m.heartbeat for _, m in self.messages if m.HasField("heartbeat")]

    def wait_for(self, predicate, timeout: float = 10.0) -> spb.SanctumSnapshot | None:  # noqa: ANN001
        """The first received snapshot satisfying predicate, waiting up to timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for _, m in self.messages:
                    if m.HasField("snapshot") and predicate(m.snapshot):
                        return m.snapshot
                left = deadline - time.monotonic()
                if left <= 0 or self.ended.is_set():
                    return None
                self._cond.wait(left)

    def wait_count(self, n: int, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.messages) < n:
                left = deadline - time.monotonic()
                if left <= 0 or self.ended.is_set():
                    return False
                self._cond.wait(left)
            return True

    def close(self) -> None:
        self.call.cancel()
        self._thread.join(5)
        self.channel.close()

    def __enter__(self) -> Watcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
