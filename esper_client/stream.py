"""One long-lived SanctumService.IngestStream call: send batches, collect per-batch acks.

gRPC's blocking API consumes a bidirectional call's requests on its own thread; sends go
through a queue to it (no new call, no new thread per send). A daemon thread reads the acks
into a deque, so the sender never blocks on the wire; it wakes the sender only when the
sender waits with nothing to send (`wake_on_ack`) or the stream ended: while it has more to
send, acks are taken at that send, without a thread wake-up each. The
first failure is kept as a SinkError and ends the stream; the sender then resumes from
sanctum's cursor (or, for UNIMPLEMENTED, falls back to Ingest).
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator

import grpc

from esper.sanctum.v2 import sanctum_pb2 as spb

#: Put on the request queue to half-close the stream.
_END = b""


class AckStream:
    """The open stream; `send` and `acks` are called from the sender thread only."""

    def __init__(self, call: grpc.StreamStreamMultiCallable,
                 metadata: tuple[tuple[str, str], ...], wake: threading.Event,
                 classify: Callable[[grpc.RpcError], Exception]) -> None:
        self._requests: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        self._acks: deque[spb.IngestStreamResponse] = deque()
        self._wake = wake
        self._classify = classify
        #: The failure that ended the stream (a SinkError), once the reader saw it.
        self.error: Exception | None = None
        self._closed = False
        #: Set by the sender while it needs acks to go on (see the module docstring).
        self.wake_on_ack = False
        self._call = call(self._outgoing(), metadata=metadata)
        self._reader = threading.Thread(target=self._read, name="esper-telemetry-acks",
                                        daemon=True)
        self._reader.start()

    def _outgoing(self) -> Iterator[bytes]:
        get = self._requests.get
        while True:
            data = get()
            if data is _END or not data:
                return
            yield data

    def _read(self) -> None:
        try:
            for ack in self._call:
                self._acks.append(ack)
                if self.wake_on_ack:
                    self._wake.set()
            if not self._closed:
                from esper_client.sinks import SinkError

                self.error = SinkError("transient", "sanctum ended the ingest stream")
        except grpc.RpcError as err:
            self.error = self._classify(err)
        except Exception as exc:  # a bug in the reader must end the stream, not hang it
            from esper_client.sinks import SinkError

            self.error = SinkError("transient", f"ingest stream failed: {exc!r}")
        finally:
            self._wake.set()

    def send(self, request: bytes) -> None:
        """Queue one serialized IngestRequest (never blocks)."""
        self._requests.put(request)

    def acks(self) -> list[spb.IngestStreamResponse]:
        """The acks received since the last call, in order."""
        out = []
        pop = self._acks.popleft
        while self._acks:
            out.append(pop())
        return out

    @property
    def has_acks(self) -> bool:
        return bool(self._acks)

    def close(self) -> None:
        """Half-close and cancel; the threads end on their own."""
        self._closed = True
        self._requests.put(_END)
        self._call.cancel()
