"""Bearer tokens (full and read-only), TLS and mTLS, loopback-only default."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.sanctum.v2 import sanctum_pb2_grpc
from sanctum_svc.config import ConfigError, ServerConfig
from testkit import ThreadedSanctum, batches

pytestmark = pytest.mark.hostile


def _stub(ch: grpc.Channel) -> sanctum_pb2_grpc.SanctumServiceStub:
    return sanctum_pb2_grpc.SanctumServiceStub(ch)


def _code(fn) -> grpc.StatusCode:  # noqa: ANN001
    try:
        fn()
    except grpc.RpcError as err:
        return err.code()
    return grpc.StatusCode.OK


def _bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def test_tokens(make_events) -> None:
    events = make_events("sec")
    with ThreadedSanctum(token="s3cret", read_token="look") as server, \
            grpc.insecure_channel(server.address) as ch:
        stub = _stub(ch)
        ingest = lambda md: stub.Ingest(batches(events, 64), metadata=md)  # noqa: E731
        get = lambda md: stub.GetSnapshot(spb.GetSnapshotRequest(run_id="sec"),  # noqa: E731
                                          metadata=md)
        runs = lambda md: stub.ListRuns(spb.ListRunsRequest(), metadata=md)  # noqa: E731
        assert _code(lambda: ingest(())) == grpc.StatusCode.UNAUTHENTICATED
        assert _code(lambda: ingest(_bearer("wrong"))) == grpc.StatusCode.UNAUTHENTICATED
        assert _code(lambda: ingest((("authorization", "Basic s3cret"),))) == (
            grpc.StatusCode.UNAUTHENTICATED)
        assert _code(lambda: ingest(_bearer("look"))) == grpc.StatusCode.PERMISSION_DENIED
        assert _code(lambda: runs(())) == grpc.StatusCode.UNAUTHENTICATED
        assert _code(lambda: ingest(_bearer("s3cret"))) == grpc.StatusCode.OK
        assert get(_bearer("look")).snapshot.delivery.events_applied == len(events)
        assert get(_bearer("s3cret")).snapshot.run_id == "sec"
        assert len(runs(_bearer("look")).runs) == 1
        watch = stub.WatchSnapshots(spb.WatchSnapshotsRequest(run_id="sec"), metadata=())
        assert _code(lambda: next(watch)) == grpc.StatusCode.UNAUTHENTICATED
        watch = stub.WatchSnapshots(spb.WatchSnapshotsRequest(run_id="sec"),
                                    metadata=_bearer("look"))
        assert next(watch).snapshot.run_id == "sec"
        watch.cancel()
        # Health needs no token (container health checks, load balancers).
        health = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest())
        assert health.status == health_pb2.HealthCheckResponse.SERVING


def test_unauthenticated_message_is_actionable() -> None:
    with ThreadedSanctum(token="t") as server, grpc.insecure_channel(server.address) as ch, \
            pytest.raises(grpc.RpcError) as err:
        _stub(ch).ListRuns(spb.ListRunsRequest())
    assert "Bearer" in err.value.details()


def test_non_loopback_needs_token_or_explicit_flag() -> None:
    with pytest.raises(ConfigError, match="without a token"):
        ServerConfig(listen="0.0.0.0:50051").check()
    ServerConfig(listen="0.0.0.0:50051", token="t").check()
    ServerConfig(listen="0.0.0.0:50051", insecure_listen_all=True).check()
    ServerConfig(listen="[::1]:50051").check()
    ServerConfig(listen="localhost:50051").check()


def _openssl_cert(directory: Path, name: str) -> tuple[Path, Path]:
    key, cert = directory / f"{name}.key", directory / f"{name}.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "1", "-subj", f"/CN={name}",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True)
    return key, cert


needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None,
                                   reason="openssl CLI not installed")


@needs_openssl
def test_tls(tmp_path: Path, make_events) -> None:
    key, cert = _openssl_cert(tmp_path, "localhost")
    with ThreadedSanctum(tls_cert=cert, tls_key=key) as server:
        port = server.address.rsplit(":", 1)[1]
        creds = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
        with grpc.secure_channel(f"localhost:{port}", creds) as ch:
            reply = _stub(ch).Ingest(batches(make_events("tls"), 64), timeout=10)
            assert reply.events_applied == 25
        # Without the CA the handshake fails.
        other_key, other = _openssl_cert(tmp_path, "other")
        bad = grpc.ssl_channel_credentials(root_certificates=other.read_bytes())
        with grpc.secure_channel(f"localhost:{port}", bad) as ch:
            assert _code(lambda: _stub(ch).ListRuns(spb.ListRunsRequest(), timeout=15)) == (
                grpc.StatusCode.UNAVAILABLE)
        # Plaintext against a TLS port fails too.
        with grpc.insecure_channel(f"localhost:{port}") as ch:
            assert _code(lambda: _stub(ch).ListRuns(spb.ListRunsRequest(), timeout=15)) == (
                grpc.StatusCode.UNAVAILABLE)


@needs_openssl
def test_mtls(tmp_path: Path) -> None:
    key, cert = _openssl_cert(tmp_path, "localhost")
    client_key, client_cert = _openssl_cert(tmp_path, "client")
    with ThreadedSanctum(tls_cert=cert, tls_key=key, tls_client_ca=client_cert) as server:
        target = "localhost:" + server.address.rsplit(":", 1)[1]
        with_cert = grpc.ssl_channel_credentials(
            root_certificates=cert.read_bytes(), private_key=client_key.read_bytes(),
            certificate_chain=client_cert.read_bytes())
        with grpc.secure_channel(target, with_cert) as ch:
            assert _code(lambda: _stub(ch).ListRuns(spb.ListRunsRequest(), timeout=5)) == (
                grpc.StatusCode.OK)
        without = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
        with grpc.secure_channel(target, without) as ch:
            assert _code(lambda: _stub(ch).ListRuns(spb.ListRunsRequest(), timeout=15)) == (
                grpc.StatusCode.UNAVAILABLE)
