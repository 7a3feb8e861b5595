"""The webhook sender's network: httpcore, with every address a receiver's
name resolves to checked against the target policy before a connection is
made (targets.TargetPolicy), and the connection pinned to the address that
was checked. Imported with the first post (sender.WebhookSender._client)."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import httpcore

from .targets import TargetPolicy, TargetRefused

# How long a name's checked address is reused: a delivery put back while its
# receiver is busy comes round every second, and need not resolve each time.
RESOLVED_TTL_S = 5.0
RESOLVED_KEPT = 1024

# The (host, port, address) a delivery resolved, checked and took its
# receiver's slot for: its connection goes there, not to a second resolution
# of the name, which could give another address than the one counted.
PINNED: ContextVar[tuple[str, int, str] | None] = ContextVar("fastvideo_ui_webhook_address", default=None)


class UnresolvedName(httpcore.ConnectError):
    """The receiver's name has no address (or the resolver failed)."""


class CheckedNetwork(httpcore.AsyncNetworkBackend):
    """httpcore's own network, except that a name is resolved here, every
    address it gives is checked (TargetPolicy.address_problem), and the
    connection goes to a checked address. TLS still verifies the certificate
    against the name in the URL."""

    def __init__(self, policy: TargetPolicy) -> None:
        self.policy = policy
        self._inner = httpcore.AnyIOBackend()
        self._resolved: dict[tuple[str, int], tuple[float, str]] = {}  # (host, port): (until, checked address)

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                          socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
                          ) -> httpcore.AsyncNetworkStream:
        pinned = PINNED.get()
        address = pinned[2] if pinned and pinned[:2] == (host, port) else await self.checked_address(host, port)
        return await self._inner.connect_tcp(address, port, timeout=timeout, local_address=local_address,
                                             socket_options=socket_options)

    async def checked_address(self, host: str, port: int) -> str:
        """The address to connect to for this name: checked, every one it
        resolves to, and reused for a few seconds."""
        now = time.monotonic()
        until, address = self._resolved.get((host, port), (0.0, ""))
        if until > now:
            return address
        address = await self._resolve_and_check(host, port)
        if len(self._resolved) >= RESOLVED_KEPT:
            self._resolved = {key: kept for key, kept in self._resolved.items() if kept[0] > now}
        if len(self._resolved) < RESOLVED_KEPT:
            self._resolved[(host, port)] = (now + RESOLVED_TTL_S, address)
        return address

    async def _resolve_and_check(self, host: str, port: int) -> str:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise UnresolvedName(f"cannot resolve {host}: {exc.strerror}") from None
        addresses = [str(info[4][0]) for info in infos]
        if not addresses:
            raise httpcore.ConnectError(f"{host} has no address")
        for address in addresses:  # every one: a name that also resolves locally is refused outright
            problem = self.policy.address_problem(address)
            if problem:
                raise TargetRefused(f"{host} resolves to {problem}")
        return addresses[0]

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
                                  ) -> httpcore.AsyncNetworkStream:
        raise TargetRefused("webhooks are not posted to Unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def describe(exc: BaseException) -> str:
    """One line: the innermost OS error says more ("Connection refused") than
    the wrappers around it ("All connection attempts failed")."""
    if isinstance(exc, httpcore.TimeoutException):
        return f"timed out ({exc or type(exc).__name__})"
    if isinstance(exc, UnresolvedName):  # its context's errno is the resolver's own (-2): "Unknown error -2"
        return str(exc)
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, OSError) and cause.errno:
            return f"cannot connect: {os.strerror(cause.errno)}"
        cause = cause.__cause__ or cause.__context__
    return str(exc) or type(exc).__name__


def unsupported(exc: BaseException) -> bool:
    """A URL httpcore cannot post to at all (its scheme): no later attempt can succeed."""
    return isinstance(exc, httpcore.UnsupportedProtocol)


class Http:
    """The checked network and the connection pool over it."""

    def __init__(self, policy: TargetPolicy, max_connections: int) -> None:
        self.network = CheckedNetwork(policy)
        self.pool = httpcore.AsyncConnectionPool(network_backend=self.network, retries=0,
                                                 max_connections=max_connections, keepalive_expiry=5.0)

    @contextmanager
    def pinned(self, host: str, port: int, address: str) -> Iterator[None]:
        """Connections to host:port made within go to `address` (the one checked and counted)."""
        token = PINNED.set((host, port, address))
        try:
            yield
        finally:
            PINNED.reset(token)

    async def aclose(self) -> None:
        await self.pool.aclose()
