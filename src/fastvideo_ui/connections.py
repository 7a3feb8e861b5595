"""Limits on connections, enforced before a request reaches the app (or auth).

Anyone who can reach the port could otherwise stop the server from serving:
a thousand half-open connections used up its file descriptors (and asyncio
logged "Too many open files" tens of MB a minute), an idle connection was
never closed, and a 100 MB header line was read into memory whole. So, on top
of uvicorn's HTTP protocol (httptools):

- a request's headers must arrive within `header_timeout_s` of its first byte
  (or of the connection, for one that sends nothing), else the connection is
  closed: 408;
- the headers may take `max_header_bytes`, else 431 and close;
- at most `max_connections` are open at once, a number kept below the file
  descriptor limit (whose soft value is raised to the hard one at start); a
  connection beyond it is closed at once, before it is read;
- the accept loop's "out of system resource" errors are logged once a minute;
- at shutdown, responses still streaming (event streams) end at once.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("fastvideo_ui.connections")

# File descriptors kept for everything that is not a client connection: the
# database, logs being written, worker pipes, videos being served.
RESERVED_FDS = 256


def raise_fd_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard one; return the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def connection_cap(requested: int, fd_limit: int) -> int:
    """`requested`, kept below the descriptors this process may open."""
    return max(1, min(requested, fd_limit - RESERVED_FDS))


def _status(code: int, reason: str) -> bytes:
    body = f'{{"detail": "{reason}"}}'.encode()
    return (f"HTTP/1.1 {code} {reason}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n").encode() + body


def guarded_protocol(header_timeout_s: float, max_header_bytes: int, max_connections: int) -> type:
    """An HttpToolsProtocol class with these limits (uvicorn takes the class)."""

    class GuardedHttpToolsProtocol(HttpToolsProtocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._header_bytes = 0
            self._in_headers = True
            self._header_timer: asyncio.TimerHandle | None = None
            if len(self.connections) > max_connections:
                transport.abort()  # before a byte is read: the descriptor goes back at once
                return
            self._start_header_timer()

        def _start_header_timer(self) -> None:
            self._cancel_header_timer()
            self._header_timer = self.loop.call_later(header_timeout_s, self._headers_too_slow)

        def _cancel_header_timer(self) -> None:
            timer = getattr(self, "_header_timer", None)
            if timer is not None:
                timer.cancel()
                self._header_timer = None

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            if self._in_headers and not self.transport.is_closing():
                self.transport.write(_status(408, "Request Timeout"))
                self.transport.close()

        def data_received(self, data: bytes) -> None:
            if self.transport.is_closing():
                return
            super().data_received(data)
            if self._in_headers:  # this chunk did not finish a request's headers
                self._header_bytes += len(data)
                if self._header_bytes > max_header_bytes and not self.transport.is_closing():
                    self.transport.write(_status(431, "Request Header Fields Too Large"))
                    self.transport.close()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._in_headers = True
            self._header_bytes = 0
            if self._header_timer is None:
                self._start_header_timer()

        def on_headers_complete(self) -> None:
            self._in_headers = False
            self._cancel_header_timer()
            super().on_headers_complete()

        def on_response_complete(self) -> None:
            # The next request on this connection is waited for by uvicorn's
            # keep-alive timeout; its headers are counted and timed from its
            # first byte (on_message_begin). Until then what arrives is the rest
            # of this request's body, which a response refused before reading
            # it all (a 413) leaves still coming.
            self._in_headers = False
            self._header_bytes = 0
            super().on_response_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_header_timer()
            super().connection_lost(exc)

        def shutdown(self) -> None:
            # The server is stopping. A response still streaming (an event
            # stream never ends by itself) is told its client has gone, so it
            # ends now instead of holding the exit for the whole grace period.
            cycle = self.cycle
            if cycle is not None and cycle.response_started and not cycle.response_complete:
                cycle.disconnected = True  # its sends become no-ops; receive() says http.disconnect
                cycle.message_event.set()
                self.transport.close()
                return
            super().shutdown()

    return GuardedHttpToolsProtocol


class AcceptErrorLog:
    """A loop exception handler that logs the accept loop's resource errors at
    most once a minute (with how many were dropped) and everything else as usual."""

    def __init__(self, interval_s: float = 60.0) -> None:
        self.interval_s = interval_s
        self._last = 0.0
        self._dropped = 0

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if "out of system resource" not in str(context.get("message", "")):
            loop.default_exception_handler(context)
            return
        now = time.monotonic()
        if now - self._last < self.interval_s:
            self._dropped += 1
            return
        self._last = now
        more = f" ({self._dropped} more since the last report)" if self._dropped else ""
        self._dropped = 0
        log.warning("cannot accept connections: %s%s", context.get("exception"), more)
