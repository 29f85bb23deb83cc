"""Plain-words reasons for failed connections to sanctum, shared by every Python client.

gRPC reports a TLS failure as UNAVAILABLE with the handshake error buried in its detail
("failed to connect to all addresses; last error: ... Hostname Verification Check failed").
A client that says only "unreachable" leaves the user guessing; these functions name the
problem (wrong name, untrusted or expired certificate, TLS on one side only) and the fix.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from esper_common.channel import ChannelConfig, SanctumError


def certificate_names(pem: Path | str | None) -> list[str]:
    """DNS names and IP addresses in the subjectAltName of the first certificate in `pem`
    ([] when unreadable or absent). For a self-signed server certificate used as --tls-ca
    these are the names a client may connect as."""
    if pem is None:
        return []
    try:
        from cryptography import x509

        cert = x509.load_pem_x509_certificate(Path(pem).read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except Exception:  # not PEM, no SAN, unreadable: nothing to list
        return []
    return [*san.get_values_for_type(x509.DNSName),
            *(str(ip) for ip in san.get_values_for_type(x509.IPAddress))]


def _san_entry(host: str) -> str:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return f"DNS:{host}"
    return f"IP:{host.strip('[]')}"


def tls_problem(detail: str, cfg: ChannelConfig) -> str | None:
    """What went wrong in a TLS handshake (or its absence), from a gRPC error detail; None
    when the detail names no TLS problem."""
    low = detail.lower()
    host = cfg.target.rpartition(":")[0] or cfg.target
    if "hostname verification" in low or "not in peer certificate" in low:
        names = certificate_names(cfg.tls_ca)
        has = f" (it names {', '.join(names)})" if names else ""
        return (f"TLS: sanctum's certificate is not valid for the name '{host}'{has}. "
                "Connect with a name the certificate has (e.g. --server localhost:PORT), or "
                f"make a certificate whose subjectAltName includes {_san_entry(host)}")
    if "certificate has expired" in low or "certificate is not yet valid" in low:
        which = "has expired" if "expired" in low else "is not valid yet"
        return (f"TLS: sanctum's certificate {which} (check the clocks, or make a new "
                "certificate and restart esper-sanctum with it)")
    if "certificate_verify_failed" in low or "certificate verify failed" in low:
        return (f"TLS: sanctum's certificate is not signed by --tls-ca {cfg.tls_ca}; pass "
                "the CA file that signed it (for a self-signed certificate: the certificate "
                "itself)")
    if cfg.tls_ca is not None and "wrong_version_number" in low:
        return ("TLS: sanctum does not speak TLS on this port (started without --tls-cert?); "
                "drop --tls-ca, or restart sanctum with --tls-cert and --tls-key")
    if cfg.tls_ca is None and "socket closed" in low:
        return ("sanctum closed the connection at once: if it serves TLS (--tls-cert), "
                "pass --tls-ca with its CA certificate")
    return None


def describe(error: SanctumError, cfg: ChannelConfig) -> str:
    """One line for a failed RPC: the TLS problem if there is one, else code and detail."""
    problem = tls_problem(error.detail, cfg)
    if problem is not None:
        return problem
    return f"{error.code.name}: {error.detail}"
