"""`esper-sanctum serve` names what is wrong at start: bad, mismatched, expired or not yet
valid TLS files (not "the port is in use"), a token with whitespace around it, a token sent
in clear, and /metrics stays on loopback unless asked."""

from __future__ import annotations

import sys
import urllib.request
from pathlib import Path

import grpc
import pytest

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.sanctum.v2 import sanctum_pb2_grpc
from sanctum_svc.cli import main
from testkit import SanctumProcess, ThreadedSanctum, free_port
from tests.certs import make_cert


def _serve(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["serve", "--listen", "127.0.0.1:0", "--store", ":memory:", *args])
    return code, capsys.readouterr().err


def test_garbage_certificate_is_named_not_a_busy_port(tmp_path: Path, capsys) -> None:
    _, key = make_cert(tmp_path, "localhost")
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate\n")
    code, err = _serve(capsys, "--tls-cert", str(bad), "--tls-key", str(key))
    assert code == 2
    assert f"--tls-cert {bad} is not a PEM certificate" in err
    assert "in use" not in err and "Traceback" not in err


def test_key_of_another_certificate_is_refused(tmp_path: Path, capsys) -> None:
    cert, _ = make_cert(tmp_path, "localhost")
    _, other_key = make_cert(tmp_path, "localhost", stem="other")
    code, err = _serve(capsys, "--tls-cert", str(cert), "--tls-key", str(other_key))
    assert code == 2 and "does not belong to the certificate" in err
    garbage = tmp_path / "garbage.key"
    garbage.write_text("nope\n")
    code, err = _serve(capsys, "--tls-cert", str(cert), "--tls-key", str(garbage))
    assert code == 2 and "is not a PEM private key" in err and "in use" not in err


@pytest.mark.parametrize(("valid_from", "valid_until", "needle"), [
    (-10, -1, "expired on "),
    (2, 30, "is not valid yet: valid from "),
])
def test_certificate_outside_its_dates_refuses_to_start(
        tmp_path: Path, capsys, valid_from: float, valid_until: float, needle: str) -> None:
    cert, key = make_cert(tmp_path, "localhost", valid_from_days=valid_from,
                          valid_until_days=valid_until)
    code, err = _serve(capsys, "--tls-cert", str(cert), "--tls-key", str(key))
    assert code == 2, err
    assert needle in err and " UTC" in err


def test_certificate_about_to_expire_is_a_warning(tmp_path: Path) -> None:
    from sanctum_svc.config import ServerConfig
    from sanctum_svc.tls import start_warnings

    cert, key = make_cert(tmp_path, "localhost", valid_until_days=3)
    soon = start_warnings(ServerConfig(tls_cert=cert, tls_key=key))
    assert len(soon) == 1 and "expires on" in soon[0]
    cert, key = make_cert(tmp_path, "localhost", valid_until_days=365, stem="year")
    assert start_warnings(ServerConfig(tls_cert=cert, tls_key=key)) == []


def _list_runs(address: str, token: str) -> grpc.StatusCode:
    with grpc.insecure_channel(address) as ch:
        try:
            sanctum_pb2_grpc.SanctumServiceStub(ch).ListRuns(
                spb.ListRunsRequest(), metadata=(("authorization", f"Bearer {token}"),),
                timeout=5)
        except grpc.RpcError as err:
            return err.code()
    return grpc.StatusCode.OK


def test_token_with_a_trailing_newline_still_admits_clients() -> None:
    with SanctumProcess(":memory:", extra_args=["--token", "s3cret \n"]) as proc:
        assert _list_runs(proc.address, "s3cret") == grpc.StatusCode.OK
        assert _list_runs(proc.address, "wrong") == grpc.StatusCode.UNAUTHENTICATED
    out = "".join(proc.output)
    assert "--token (or its environment variable) has whitespace around it" in out


def test_token_without_tls_on_all_interfaces_warns(tmp_path: Path) -> None:
    port = free_port()
    proc = SanctumProcess(":memory:", port=port, extra_args=["--token", "t"])
    proc.command = lambda: [sys.executable, "-m", "sanctum_svc", "serve",  # type: ignore[method-assign]  # patched
                            "--listen", f"0.0.0.0:{port}", "--store", ":memory:", "--token", "t"]
    with proc:
        pass
    assert "without TLS: the token and all telemetry cross the network in clear" in (
        "".join(proc.output))
    # Loopback, or TLS: no such warning (a warning that is always on is a bug).
    with SanctumProcess(":memory:", extra_args=["--token", "t"]) as quiet:
        pass
    assert "warning" not in "".join(quiet.output)


def test_metrics_listen_on_loopback_even_when_grpc_does_not() -> None:
    with ThreadedSanctum(host="127.0.0.2", metrics_port=0) as server:
        assert server.server is not None and server.server.metrics_port
        url = f"http://127.0.0.1:{server.server.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as resp:
            assert b"sanctum_ingest_batches" in resp.read()
        with pytest.raises(OSError):
            urllib.request.urlopen(
                f"http://127.0.0.2:{server.server.metrics_port}/metrics", timeout=5)
    with ThreadedSanctum(metrics_port=0, metrics_host="127.0.0.3") as chosen:
        assert chosen.server is not None
        url = f"http://127.0.0.3:{chosen.server.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as resp:
            assert resp.status == 200


def test_ingest_into_a_tls_sanctum_by_a_name_it_lacks_says_so(
        tmp_path: Path, make_events, capsys) -> None:
    from esper.telemetry.v1 import telemetry_pb2 as tpb
    from esper_common.eventfile import write_batch

    path = tmp_path / "run.events"
    with path.open("wb") as fh:
        write_batch(fh, tpb.EventBatch(events=make_events("tls-ingest")))
    cert, key = make_cert(tmp_path, "localhost")
    with ThreadedSanctum(tls_cert=cert, tls_key=key) as server:
        code = main(["ingest", str(path), "--server", server.address, "--tls-ca", str(cert)])
    err = capsys.readouterr().err
    assert code == 2
    assert "not valid for the name '127.0.0.1' (it names localhost)" in err, err
