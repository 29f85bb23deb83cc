"""A client of the retired esper.sanctum.v1 contract gets one clear error on every call
shape (unary, server-streaming, client-streaming), with or without a token configured."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import pytest

from esper.sanctum.v2 import sanctum_pb2 as spb
from sanctum_svc.retired import RETIRED_SERVICE
from testkit import ThreadedSanctum

V1 = f"/{RETIRED_SERVICE}/"


def _calls(channel: grpc.Channel) -> dict[str, Callable[[], object]]:
    """One call of each v1 method, raw bytes (the v1 stubs no longer exist)."""
    empty = b""
    return {
        "GetSnapshot": lambda: channel.unary_unary(V1 + "GetSnapshot")(empty, timeout=10),
        "ListRuns": lambda: channel.unary_unary(V1 + "ListRuns")(empty, timeout=10),
        "GetResumeCursor": lambda: channel.unary_unary(V1 + "GetResumeCursor")(
            spb.GetResumeCursorRequest(run_id="r").SerializeToString(), timeout=10),
        "WatchSnapshots": lambda: list(channel.unary_stream(V1 + "WatchSnapshots")(
            empty, timeout=10)),
        "Ingest": lambda: channel.stream_unary(V1 + "Ingest")(
            iter([spb.IngestRequest().SerializeToString()] * 3), timeout=10),
    }


@pytest.mark.parametrize("token", [None, "tok"])
def test_every_v1_method_says_to_upgrade(token: str | None) -> None:
    with ThreadedSanctum(token=token) as server, grpc.insecure_channel(server.address) as ch:
        for method, call in _calls(ch).items():
            with pytest.raises(grpc.RpcError) as err:
                call()
            assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION, method
            detail = err.value.details() or ""
            assert f"{RETIRED_SERVICE}/{method}" in detail
            assert "esper.sanctum.v2" in detail and "pip install -U esper-sanctum" in detail


def test_v2_still_needs_the_token() -> None:
    with ThreadedSanctum(token="tok") as server, grpc.insecure_channel(server.address) as ch:
        with pytest.raises(grpc.RpcError) as err:
            server.stub(ch).ListRuns(spb.ListRunsRequest(), timeout=10)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
