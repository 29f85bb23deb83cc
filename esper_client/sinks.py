"""Where the sender ships encoded batches: sanctum over gRPC, or an event file.

Both sinks take already-encoded EventBatch bytes and raise SinkError, classified as
transient (retry with backoff and resume), rejected (this batch is invalid: drop it),
auth (credentials refused: retrying cannot help) or unimplemented (an older sanctum without
IngestStream: use Ingest). GrpcSink also opens the long-lived IngestStream (AckStream).
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import BinaryIO, Literal, Protocol

import grpc

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper_client.stream import AckStream
from esper_client.wire import encode_ingest_request
from esper_common.channel import ChannelConfig, Failover, sync_channel
from esper_common.eventfile import EventFileError, open_append, write_batch_bytes

ErrorKind = Literal["transient", "rejected", "auth", "unimplemented"]
_INGEST = "/esper.sanctum.v2.SanctumService/Ingest"
_INGEST_STREAM = "/esper.sanctum.v2.SanctumService/IngestStream"
_CURSOR = "/esper.sanctum.v2.SanctumService/GetResumeCursor"
_EVENT_INDEX = re.compile(r"events\[(\d+)\]")
_AUTH_CODES = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)


class SinkError(Exception):
    """A delivery attempt failed; `kind` says what the sender should do about it."""

    def __init__(
        self, kind: ErrorKind, message: str, bad_indexes: tuple[int, ...] = (),
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.bad_indexes = bad_indexes


class Sink(Protocol):
    def send(self, batches: list[bytes], timeout: float) -> spb.IngestResponse | None: ...
    def cursor(self, run_id: str, producer_id: str, timeout: float) -> int | None: ...
    def reset(self) -> bool: ...
    def close(self) -> None: ...


#: Trailing metadata carrying the google.rpc.Status of a failed call (what grpcio-status reads;
#: parsed here so that the client extra needs googleapis-common-protos only).
_STATUS_DETAILS_KEY = "grpc-status-details-bin"


def _bad_event_indexes(err: grpc.RpcError) -> tuple[int, ...]:
    """Event indexes named by the google.rpc.BadRequest detail of an INVALID_ARGUMENT."""
    try:
        from google.rpc import error_details_pb2, status_pb2

        status = status_pb2.Status()
        for key, value in err.trailing_metadata() or ():
            if key == _STATUS_DETAILS_KEY:
                status.ParseFromString(value)
    except Exception:  # no detail, or not a call: fall back to dropping the batch
        return ()
    found: set[int] = set()
    for detail in status.details:
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            for violation in bad.field_violations:
                match = _EVENT_INDEX.search(violation.field)
                if match:
                    found.add(int(match.group(1)))
    return tuple(sorted(found))


def classify(err: grpc.RpcError) -> SinkError:
    code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    detail = err.details() if hasattr(err, "details") else str(err)
    message = f"{code.name if code else 'UNKNOWN'}: {detail}"
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return SinkError("rejected", message, _bad_event_indexes(err))
    if code in _AUTH_CODES:
        return SinkError("auth", message)
    if code == grpc.StatusCode.UNIMPLEMENTED:
        return SinkError("unimplemented", message)
    return SinkError("transient", message)


class GrpcSink:
    """Sends batches on SanctumService.Ingest (one call per send()) or on one long-lived
    IngestStream (open_stream()).

    The channel is created lazily, in the sender thread, and dropped on reset() so a
    reconnect follows our backoff rather than gRPC's (up to 120 s by default).
    """

    def __init__(self, target: str, token: str | None, tls_ca: str | None) -> None:
        self._cfg = ChannelConfig(target, token, Path(tls_ca) if tls_ca else None)
        self._metadata = self._cfg.metadata()
        self._channel: grpc.Channel | None = None
        #: `target` may list several replicas (a:50051,b:50051): reset() moves on.
        self._replicas = Failover(self._cfg)

    @property
    def address(self) -> str:
        """The replica this sink sends to now."""
        return self._replicas.current.target

    def _open(self) -> grpc.Channel:
        if self._channel is None:
            self._channel = sync_channel(self._replicas.current)
            self._ingest = self._channel.stream_unary(
                _INGEST, request_serializer=None,
                response_deserializer=spb.IngestResponse.FromString,
            )
            self._ingest_stream = self._channel.stream_stream(
                _INGEST_STREAM, request_serializer=None,
                response_deserializer=spb.IngestStreamResponse.FromString,
            )
            self._cursor = self._channel.unary_unary(
                _CURSOR, request_serializer=spb.GetResumeCursorRequest.SerializeToString,
                response_deserializer=spb.GetResumeCursorResponse.FromString,
            )
        return self._channel

    def send(self, batches: list[bytes], timeout: float) -> spb.IngestResponse:
        """Stream the batches; sanctum's reply (what it applied, what were duplicates)."""
        self._open()
        requests = [encode_ingest_request(b) for b in batches]
        try:
            reply: spb.IngestResponse = self._ingest(iter(requests), timeout=timeout,
                                                     metadata=self._metadata)
        except grpc.RpcError as err:
            raise classify(err) from err
        return reply

    def open_stream(self, wake: threading.Event) -> AckStream:
        """A new IngestStream call; its acks (and its end) set `wake`."""
        self._open()
        return AckStream(self._ingest_stream, self._metadata, wake, classify)

    def cursor(self, run_id: str, producer_id: str, timeout: float) -> int | None:
        self._open()
        req = spb.GetResumeCursorRequest(run_id=run_id, producer_id=producer_id)
        try:
            resp = self._cursor(req, timeout=timeout, metadata=self._metadata)
        except grpc.RpcError as err:
            raise classify(err) from err
        for cur in resp.cursors:
            if cur.run_id == run_id and cur.producer_id == producer_id:
                return cur.last_seq
        return 0

    def reset(self) -> bool:
        """Drop the channel after a transport failure and move to the next replica; True
        when that one is still untried this round (retry it at once, no backoff)."""
        self.close()
        return self._replicas.size > 1 and not self._replicas.failed()

    def succeeded(self) -> None:
        self._replicas.succeeded()

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None


class FileSink:
    """Appends batches to an esper event file (fsync on close) for `esper-sanctum ingest`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fh: BinaryIO | None = None

    def send(self, batches: list[bytes], timeout: float) -> None:
        try:
            if self._fh is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fh = open_append(self.path)
            for batch in batches:
                write_batch_bytes(self._fh, batch)
            self._fh.flush()
        except OSError as exc:
            raise SinkError("transient", f"cannot write {self.path}: {exc}") from exc
        except EventFileError as exc:
            raise SinkError("transient", str(exc)) from exc

    def cursor(self, run_id: str, producer_id: str, timeout: float) -> int | None:
        return None  # a file has no cursor: everything written is delivered

    def reset(self) -> bool:
        return False

    def close(self) -> None:
        if self._fh is not None:
            try:
                self._fh.flush()
                os.fsync(self._fh.fileno())
            finally:
                self._fh.close()
                self._fh = None
