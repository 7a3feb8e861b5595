"""Who may talk to this server from a browser: a pure ASGI guard in front of everything.

- **Host.** A page on a name the attacker controls can re-point that name at
  127.0.0.1 (DNS rebinding) and then read and drive the API as same-origin. So
  a request is answered only when its Host is an IP address (those cannot be
  rebound), `localhost` or a `.localhost` name, the bound host, this machine's
  own name, or a name given with `--allowed-host`.
- **Origin.** A page on another origin (another port of 127.0.0.1 included)
  can still send "simple" requests that change state, without reading the
  answer: a no-cors POST to /stop. Requests that change state are refused when
  their Origin is not this server's own or an allowed CORS origin, or, without
  an Origin, when Sec-Fetch-Site says another site sent them.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from .asgi import openai_path, send_json_error

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def host_name(host_header: str) -> str:
    """`Example.com:8189` -> `example.com`; `[::1]:8189` -> `::1`."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class AllowedHosts:
    def __init__(self, bound_host: str, extra: Iterable[str]) -> None:
        names = {host_name(bound_host), "localhost"}
        own = socket.gethostname()  # not getfqdn(): a DNS lookup at start-up
        if own:
            names.add(own.lower())
        self.exact = {name for name in names if name} | {host_name(name) for name in extra if not name.startswith("*.")}
        self.suffixes = (".localhost", *(name[1:].lower() for name in extra if name.startswith("*.")))

    def allows(self, host_header: str) -> bool:
        name = host_name(host_header)
        return _is_ip(name) or name in self.exact or name.endswith(self.suffixes)


class BrowserGuard:
    def __init__(self, app: ASGIApp, hosts: AllowedHosts, cors_origins: Iterable[str]) -> None:
        self.app = app
        self.hosts = hosts
        self.cors_origins = frozenset(origin.rstrip("/").lower() for origin in cors_origins)
        self.any_origin = "*" in self.cors_origins  # allowed only with a token (config.py)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        openai_shape = openai_path(scope["path"])
        host = headers.get("host")
        if host is not None and not self.hosts.allows(host):
            await send_json_error(send, 400, f"Host {host_name(host)!r} is not one this server answers to "
                                     f"(a defence against DNS rebinding); start it with --allowed-host "
                                     f"{host_name(host)} if that name is yours", openai_shape=openai_shape)
            return
        if scope["method"] not in SAFE_METHODS:
            problem = self._cross_site(headers, scope)
            if problem:
                await send_json_error(send, 403, problem, openai_shape=openai_shape)
                return
        await self.app(scope, receive, send)

    def _cross_site(self, headers: Headers, scope: Scope) -> str | None:
        origin = headers.get("origin")
        if origin is not None:
            origin = origin.rstrip("/").lower()
            own = f"{scope.get('scheme', 'http')}://{(headers.get('host') or '').lower()}"
            if origin == own or origin in self.cors_origins or self.any_origin:
                return None
            return (f"Origin {origin!r} may not change anything here: only this server's own pages "
                    f"and --cors-origin origins may")
        site = headers.get("sec-fetch-site")
        if site in ("cross-site", "same-site"):
            return f"a request from another site ({site}) may not change anything here"
        return None
