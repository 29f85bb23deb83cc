"""Start-up checks of sanctum's TLS files and exposure, so a mistake is named at start.

gRPC loads a certificate only when it binds, and says nothing about its dates: a garbage
--tls-cert used to read as "the port is probably in use", and an expired one started
silently while every client's handshake failed. Here each file is parsed first: errors
refuse the start with the reason; risks that may be intended are warnings.
"""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sanctum_svc.config import ServerConfig

#: A certificate expiring sooner than this gets a warning at start.
EXPIRY_WARNING = dt.timedelta(days=14)


class TlsFileError(ValueError):
    """A TLS file cannot work; the message names the file, the reason and the fix."""


def _day(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M UTC")


def load_certificate(path: Path, flag: str):  # -> cryptography.x509.Certificate
    """The first certificate in a PEM file; TlsFileError when it is not one."""
    from cryptography import x509

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise TlsFileError(f"{flag} {path}: cannot read it ({exc.strerror})") from None
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError as exc:
        raise TlsFileError(
            f"{flag} {path} is not a PEM certificate ({exc}); it must start with "
            "'-----BEGIN CERTIFICATE-----' (see the README, 'Certificates')") from None


def check_dates(cert, flag: str, path: Path, now: dt.datetime | None = None) -> str | None:
    """TlsFileError when the certificate is expired or not valid yet (every handshake would
    fail); a warning when it expires within EXPIRY_WARNING; else None."""
    now = now or dt.datetime.now(dt.UTC)
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    if now < start:
        raise TlsFileError(
            f"{flag} {path} is not valid yet: valid from {_day(start)} to {_day(end)}, and "
            f"it is {_day(now)} (check this machine's clock, or make a new certificate)")
    if now > end:
        raise TlsFileError(
            f"{flag} {path} expired on {_day(end)} (valid from {_day(start)}); every client "
            "would fail its TLS handshake. Make a new certificate (see the README, "
            "'Certificates') and restart with it")
    if end - now < EXPIRY_WARNING:
        return f"{flag} {path} expires on {_day(end)}; make a new one before then"
    return None


def check_key_pair(cert: Path, key: Path) -> None:
    """TlsFileError when the key is not a PEM private key or does not belong to the cert."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        why = "it does not belong to the certificate" if "KEY_VALUES_MISMATCH" in str(exc) \
            else f"it is not a PEM private key ({exc.reason or exc})"
        raise TlsFileError(f"--tls-key {key}: {why} (--tls-cert {cert})") from None
    except OSError as exc:
        raise TlsFileError(f"--tls-key {key}: cannot read it ({exc.strerror})") from None


def check_tls_files(config: ServerConfig) -> list[str]:
    """Raise TlsFileError for a TLS file that cannot work; return warnings (near expiry)."""
    warnings: list[str] = []
    if config.tls_cert is None or config.tls_key is None:
        return warnings
    cert = load_certificate(config.tls_cert, "--tls-cert")
    warning = check_dates(cert, "--tls-cert", config.tls_cert)
    if warning:
        warnings.append(warning)
    check_key_pair(config.tls_cert, config.tls_key)
    if config.tls_client_ca is not None:
        ca = load_certificate(config.tls_client_ca, "--tls-client-ca")
        warning = check_dates(ca, "--tls-client-ca", config.tls_client_ca)
        if warning:
            warnings.append(warning)
    return warnings


def start_warnings(config: ServerConfig) -> list[str]:
    """Risks a user may intend but should hear about at start (the files already checked)."""
    from sanctum_svc.config import is_loopback

    warnings = check_tls_files(config)
    if config.token and not config.tls and not is_loopback(config.host):
        warnings.append(
            f"listening on {config.listen} without TLS: the token and all telemetry cross "
            "the network in clear. Add --tls-cert/--tls-key, or listen on 127.0.0.1 and "
            "reach it through an SSH tunnel (see the README)")
    if config.metrics_port is not None and not is_loopback(config.metrics_host):
        warnings.append(
            f"--metrics-host {config.metrics_host}: /metrics has no authentication; anyone "
            "who can reach it reads run ids and counters")
    return warnings
