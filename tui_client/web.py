"""`esper-tui --serve`: the dashboard in a browser (textual-serve), behind a token when it is
reachable from other machines.

Each browser session runs its own `esper-tui` process. With a token, the first request must
carry `?token=...` (the URL printed at start); it is then kept in an HttpOnly cookie and
dropped from the address bar. Without one, only a loopback address is served (reach it from
a laptop through an SSH tunnel).
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import socket
from typing import Any
from urllib.parse import quote

COOKIE = "esper_serve_token"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_error(host: str, token: str | None) -> str | None:
    """Why serving on `host` is refused (beyond this machine without a token), or None."""
    if is_loopback(host) or token:
        return None
    return (f"--serve-host {host} would let anyone who reaches this machine watch (and "
            "drive) the dashboard: give --serve-token T (or ESPER_SERVE_TOKEN) and open the "
            "URL printed with it, or keep --serve-host 127.0.0.1 and use an SSH tunnel")


def public_url(host: str, port: int, given: str | None) -> str:
    """The URL browsers reach this server at (an unspecified address names this host)."""
    if given:
        return given.rstrip("/")
    name = socket.getfqdn() if host in ("0.0.0.0", "::", "") else host
    name = f"[{name}]" if ":" in name else name
    return f"http://{name}:{port}"


def _guard(token: str) -> Any:
    from aiohttp import web

    expected = token.encode()

    def same(given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), expected)

    @web.middleware
    async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
        if same(request.query.get("token")):
            rest = [(k, v) for k, v in request.query.items() if k != "token"]
            moved = web.HTTPFound(location=str(request.rel_url.with_query(rest)))
            moved.set_cookie(COOKIE, token, httponly=True, samesite="Strict")
            raise moved
        if same(request.cookies.get(COOKIE)):
            return await handler(request)
        raise web.HTTPUnauthorized(
            text="esper-tui --serve: this dashboard needs its token: open the URL esper-tui "
                 "printed when it started (it ends in ?token=...)\n")

    return guard


def serve(command: str, host: str, port: int, token: str | None, url: str) -> None:
    """Serve `command` per browser session until Ctrl-C (or SIGTERM)."""
    from textual_serve.server import Server

    class GuardedServer(Server):
        async def _make_app(self) -> Any:
            app = await super()._make_app()
            if token:
                app.middlewares.append(_guard(token))
            return app

    # A session runs `esper-tui` again: it must show the dashboard, not serve another one.
    os.environ["ESPER_TUI_SERVE"] = "0"
    shown = f"{url}/?token={quote(token)}" if token else f"{url}/"
    print(f"esper-tui: serving the dashboard at {shown} (Ctrl+C stops)", flush=True)
    if token and not is_loopback(host):
        print("esper-tui: warning: plain HTTP: the token and the dashboard cross the network "
              "in clear; prefer an SSH tunnel, or a TLS proxy in front (--public-url)",
              flush=True)
    GuardedServer(command, host=host, port=port, public_url=url, title="esper-tui").serve()
