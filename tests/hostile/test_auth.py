"""Hostile credentials: generated bearer tokens on every RPC, the read-only token trying to
write, and TLS clients without the CA. (tests/sanctum/test_security.py covers the basic
token/TLS/mTLS paths; this attacks them.)"""

from __future__ import annotations

import shutil
import string
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from hypothesis import given
from hypothesis import strategies as st

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.sanctum.v2 import sanctum_pb2_grpc
from testkit import ThreadedSanctum, batches, build_run_events, comparable
from tests.hostile.conftest import count_case, examples

pytestmark = pytest.mark.hostile

TOKEN, READ = "ingest-s3cret", "read-only-t0ken"
RUN = "auth"
EVENTS = build_run_events(RUN, n_batches=2)

Metadata = tuple[tuple[str, str], ...]


def bearer(token: str) -> Metadata:
    return (("authorization", f"Bearer {token}"),)


def code_of(fn: Callable[[], object]) -> grpc.StatusCode:
    try:
        fn()
    except grpc.RpcError as err:
        return err.code()
    return grpc.StatusCode.OK


def calls(stub: sanctum_pb2_grpc.SanctumServiceStub, md: Metadata
          ) -> dict[str, Callable[[], object]]:
    """One call of every SanctumService method with metadata `md`."""

    def watch() -> object:
        call = stub.WatchSnapshots(spb.WatchSnapshotsRequest(run_id=RUN), metadata=md,
                                   timeout=5)
        first = next(call)
        call.cancel()
        return first

    return {
        "Ingest": lambda: stub.Ingest(batches(EVENTS[-3:], 3), metadata=md, timeout=5),
        "GetResumeCursor": lambda: stub.GetResumeCursor(
            spb.GetResumeCursorRequest(run_id=RUN), metadata=md, timeout=5),
        "GetSnapshot": lambda: stub.GetSnapshot(spb.GetSnapshotRequest(run_id=RUN),
                                                metadata=md, timeout=5),
        "ListRuns": lambda: stub.ListRuns(spb.ListRunsRequest(), metadata=md, timeout=5),
        "WatchSnapshots": watch,
    }


class Secured:
    """A token-protected live server, a channel to it, and its accepted state."""

    def __init__(self, server: ThreadedSanctum) -> None:
        self.server = server
        self.channel = grpc.insecure_channel(server.address)
        self.stub = sanctum_pb2_grpc.SanctumServiceStub(self.channel)

    def state(self) -> spb.SanctumSnapshot:
        snap = self.stub.GetSnapshot(spb.GetSnapshotRequest(run_id=RUN), metadata=bearer(TOKEN),
                                     timeout=5).snapshot
        return comparable(snap)

    def serving_without_token(self) -> bool:
        reply = health_pb2_grpc.HealthStub(self.channel).Check(
            health_pb2.HealthCheckRequest(), timeout=5)
        return reply.status == health_pb2.HealthCheckResponse.SERVING


@pytest.fixture(scope="module")
def secured() -> Iterator[Secured]:
    with ThreadedSanctum(token=TOKEN, read_token=READ) as server:
        s = Secured(server)
        s.stub.Ingest(batches(EVENTS[:-3], 16), metadata=bearer(TOKEN), timeout=10)
        yield s
        s.channel.close()


_PRINTABLE = string.ascii_letters + string.digits + string.punctuation + " "


@st.composite
def hostile_metadata(draw: st.DrawFn) -> Metadata:
    """Missing, malformed or wrong credentials (never exactly a configured token)."""
    real = draw(st.sampled_from([TOKEN, READ]))
    value = draw(st.one_of(
        st.text(_PRINTABLE, max_size=80),                                   # anything
        st.text(_PRINTABLE, max_size=40).map(lambda t: f"Bearer {t}"),      # wrong token
        st.sampled_from(["Basic", "Token", "bearer:", "Bearer"]).map(
            lambda s: f"{s} {real}" if s != "Bearer" else s),               # wrong scheme
        st.integers(0, len(real) - 1).map(lambda k: f"Bearer {real[:k]}"),  # a prefix
        st.just(f"Bearer {real}x"),                                          # a suffix
        st.just(f"Bearer {real.upper()}"),                                   # case
    ))
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() == "bearer" and token.strip() in (TOKEN, READ):  # RFC 7235: a match
        value = "Bearer nope"
    key = draw(st.sampled_from(["authorization", "authorisation", "x-authorization", ""]))
    return ((key, value),) if key else ()


@given(md=hostile_metadata(), method=st.sampled_from(
    ["Ingest", "GetResumeCursor", "GetSnapshot", "ListRuns", "WatchSnapshots"]))
@examples(400)
def test_wrong_credentials_are_unauthenticated_everywhere(secured: Secured, md: Metadata,
                                                          method: str) -> None:
    count_case("hostile credentials")
    before = secured.state()
    code = code_of(calls(secured.stub, md)[method])
    assert code == grpc.StatusCode.UNAUTHENTICATED, (md, method, code)
    assert secured.state() == before
    assert secured.serving_without_token()


def test_read_token_reads_and_watches_but_cannot_ingest(secured: Secured) -> None:
    before = secured.state()
    read = calls(secured.stub, bearer(READ))
    assert code_of(read["Ingest"]) == grpc.StatusCode.PERMISSION_DENIED
    for name in ("GetResumeCursor", "GetSnapshot", "ListRuns", "WatchSnapshots"):
        assert code_of(read[name]) == grpc.StatusCode.OK, name
    assert secured.state() == before, "the refused ingest changed state"
    # Reflection (what grpcurl uses) is a read: allowed with the read token, not without.
    refl = reflection_pb2_grpc.ServerReflectionStub(secured.channel)

    def list_services(md: Metadata) -> tuple[list[str], int]:
        """(service names, error code in the reflection reply: 0 for none)."""
        (reply,) = refl.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), metadata=md,
            timeout=5)
        return [s.name for s in reply.list_services_response.service], (
            reply.error_response.error_code)

    names, error = list_services(bearer(READ))
    assert "esper.sanctum.v2.SanctumService" in names and error == 0
    # Without a token reflection describes only health (grpcurl's Health/Check): no listing.
    assert list_services(()) == ([], grpc.StatusCode.UNAUTHENTICATED.value[0])
    # The full token may write.
    assert code_of(calls(secured.stub, bearer(TOKEN))["Ingest"]) == grpc.StatusCode.OK


def test_health_needs_no_token(secured: Secured) -> None:
    assert secured.serving_without_token()
    reply = health_pb2_grpc.HealthStub(secured.channel).Check(
        health_pb2.HealthCheckRequest(service="esper.sanctum.v2.SanctumService"),
        metadata=bearer("garbage"), timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


# ---------------------------------------------------------------------------------- TLS

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None,
                                   reason="openssl CLI not installed (needed to make certs)")


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ThreadedSanctum, Path, str]]:
    from tests.sanctum.test_security import _openssl_cert  # the server helper's cert maker

    directory = tmp_path_factory.mktemp("tls")
    key, cert = _openssl_cert(directory, "localhost")
    with ThreadedSanctum(tls_cert=cert, tls_key=key, token=TOKEN, read_token=READ) as server:
        yield server, cert, "localhost:" + server.address.rsplit(":", 1)[1]


def _tls_code(target: str, creds: grpc.ChannelCredentials, md: Metadata, method: str
              ) -> grpc.StatusCode:
    with grpc.secure_channel(target, creds) as ch:
        return code_of(calls(sanctum_pb2_grpc.SanctumServiceStub(ch), md)[method])


@needs_openssl
def test_tls_client_without_the_ca_cannot_connect(tls) -> None:  # noqa: ANN001
    _server, _cert, target = tls
    system_roots = grpc.ssl_channel_credentials()  # trusts the public CAs, not ours
    for method in ("Ingest", "ListRuns"):
        assert _tls_code(target, system_roots, bearer(TOKEN), method) == (
            grpc.StatusCode.UNAVAILABLE)
    with grpc.insecure_channel(target) as ch:  # plaintext to a TLS port
        assert code_of(calls(sanctum_pb2_grpc.SanctumServiceStub(ch), bearer(TOKEN))[
            "ListRuns"]) == grpc.StatusCode.UNAVAILABLE


@needs_openssl
def test_tls_with_the_ca_still_checks_tokens(tls) -> None:  # noqa: ANN001
    _server, cert, target = tls
    creds = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
    assert _tls_code(target, creds, bearer(TOKEN), "Ingest") == grpc.StatusCode.OK
    assert _tls_code(target, creds, (), "GetSnapshot") == grpc.StatusCode.UNAUTHENTICATED
    assert _tls_code(target, creds, bearer(READ), "Ingest") == (
        grpc.StatusCode.PERMISSION_DENIED)
    assert _tls_code(target, creds, bearer(READ), "WatchSnapshots") == grpc.StatusCode.OK


@needs_openssl
def test_junk_on_the_tls_port(tls) -> None:  # noqa: ANN001
    import socket

    server, cert, target = tls
    host, port = server.address.rsplit(":", 1)
    for junk in (b"\x16\x03\x01\x00\x05hello", b"GET / HTTP/1.1\r\n\r\n", bytes(range(256))):
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(junk)
            sock.settimeout(0.5)
            try:
                while sock.recv(4096):
                    pass
            except OSError:
                pass
    creds = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
    assert _tls_code(target, creds, bearer(READ), "ListRuns") == grpc.StatusCode.OK
