"""Limits on connections, enforced before a request reaches the app (or auth).

Anyone who can reach the port could otherwise stop the server from serving:
a thousand half-open connections used up its file descriptors (and asyncio
logged "Too many open files" tens of MB a minute), an idle connection was
never closed, a 100 MB header line was read into memory whole, a body sent a
byte every few seconds held its connection for ever, and a client that stopped
reading pinned what was being written to it. So, on top of uvicorn's HTTP
protocol (httptools):

- a request's headers must arrive within `header_timeout_s` of its first byte
  (or of the connection, for one that sends nothing), else 408 and close;
- the headers may take `max_header_bytes`, else 431 and close;
- a body may go `body_idle_timeout_s` without a byte, and must be whole within
  `body_timeout_s` plus a second for every `body_min_rate` bytes it has sent
  (a slow upload of a big file keeps going; a trickle does not), else 408 and
  close. Time the app spends not reading (uvicorn pauses the socket) is not
  held against the client;
- a response that cannot be written for `write_timeout_s` (the client reads
  nothing, and the socket's buffers are full) is abandoned and the connection
  reset, event streams included: what was waiting to go out is freed, in the
  kernel too, which also drops a closed connection's unread data after that
  long (TCP_USER_TIMEOUT);
- a connection may queue `max_pipelined` requests behind the one being
  answered (HTTP pipelining), else it is dropped: uvicorn parses every request
  one read holds, and 256 KiB of short requests were 14,000 of them;
- at most `max_connections` are open at once, a number kept below the file
  descriptor limit, and at most `max_per_client` from one client: admission.py
  says which connection gives way to a newcomer past a cap;
- the accept loop's "out of system resource" errors are logged once a minute;
- at shutdown, responses still streaming (event streams) end at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import socket
import struct
import time
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .addresses import address_group
from .admission import ANSWERING, EVENT_STREAM_PATH, IDLE, RECEIVING, Admission

log = logging.getLogger("fastvideo_ui.connections")

# File descriptors kept for everything that is not a client connection: the
# database, logs being written, worker pipes, videos being served.
RESERVED_FDS = 256


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout_s: float = 10.0
    max_header_bytes: int = 64 * 1024
    max_connections: int = 1024
    max_per_client: int = 256
    body_idle_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    body_min_rate: int = 64 * 1024  # bytes a second that earn a body one more second
    write_timeout_s: float = 30.0
    max_pipelined: int = 16  # requests queued on one connection behind the one being answered


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


def _has_body(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() not in (b"", b"0")):
            return True
    return False


def _abort(transport: asyncio.Transport) -> None:
    """Close at once and drop what is unsent, in the kernel too: a plain close
    leaves a socket whose client reads nothing holding its unsent data for
    minutes (a thousand of them held 1.5 GB of the host's TCP memory)."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def _kernel_gives_up_after(transport: asyncio.Transport, seconds: float) -> None:
    """Have the kernel drop the connection once its data has gone unread for
    this long, even after it is closed here: a response small enough for the
    socket's buffers is handed to the kernel whole, and the connection closed,
    and nothing here waits on it any more (TCP_USER_TIMEOUT, Linux)."""
    sock = transport.get_extra_info("socket")
    option = getattr(socket, "TCP_USER_TIMEOUT", None)
    if sock is not None and option is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, option, int(seconds * 1000))


def guarded_protocol(limits: ConnectionLimits) -> type:
    """An HttpToolsProtocol class with these limits (uvicorn takes the class)."""
    admission = Admission(limits.max_connections, limits.max_per_client)

    class GuardedHttpToolsProtocol(HttpToolsProtocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._header_bytes = 0
            self._in_headers = True
            self._header_timer: asyncio.TimerHandle | None = None
            self._body_timer: asyncio.TimerHandle | None = None
            self._write_timer: asyncio.TimerHandle | None = None
            self._message_done = True
            self._body_last_byte = self._body_deadline = 0.0
            self._enter(IDLE)
            self.progress_at = self.phase_since
            self.answered = 0
            self.address = address_group(self.client[0]) if self.client else ""
            if not admission.arrived(self):
                self.connections.discard(self)
                transport.abort()  # before a byte is read: the descriptor goes back at once
                return
            _kernel_gives_up_after(transport, limits.write_timeout_s)
            self._start_header_timer()

        # -- what admission reads (admission.Admitted) -----------------------------

        def _enter(self, phase: str) -> None:
            self.phase = phase
            self.phase_since = time.monotonic()

        def kept_alive(self) -> bool:
            return self.phase == IDLE and self.answered > 0

        def waits_on_client(self) -> bool:
            return self.phase in (IDLE, RECEIVING) or (self.phase == ANSWERING and self.flow.write_paused)

        def is_event_stream(self) -> bool:
            return self.cycle is not None and self.cycle.scope.get("path") == EVENT_STREAM_PATH

        def closing(self) -> bool:
            return self.transport.is_closing()

        def give_way(self) -> None:
            if self.phase == ANSWERING:  # a stalled response or an event stream: what is unsent is dropped
                _abort(self.transport)
            else:
                if self.phase == RECEIVING and not (self.cycle is not None and self.cycle.response_started):
                    self.transport.write(_status(503, "Service Unavailable"))
                self.transport.close()
            self.connections.discard(self)  # no longer holds a place: uvicorn's count, for its shutdown

        # -- headers ---------------------------------------------------------------

        def _start_header_timer(self) -> None:
            self._cancel_header_timer()
            self._header_timer = self.loop.call_later(limits.header_timeout_s, self._headers_too_slow)

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
            self.progress_at = time.monotonic()
            super().data_received(data)
            if self._in_headers:  # this chunk did not finish a request's headers
                self._header_bytes += len(data)
                if self._header_bytes > limits.max_header_bytes and not self.transport.is_closing():
                    self.transport.write(_status(431, "Request Header Fields Too Large"))
                    self.transport.close()

        # A connection being closed ignores the rest of what was read with it:
        # one read can hold thousands of pipelined requests (see on_headers_complete).
        def on_url(self, url: bytes) -> None:
            if not self.transport.is_closing():
                super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            if not self.transport.is_closing():
                super().on_header(name, value)

        def on_message_begin(self) -> None:
            if self.transport.is_closing():
                return
            super().on_message_begin()
            self._in_headers = True
            self._header_bytes = 0
            self._message_done = False
            self._enter(RECEIVING)
            if self._header_timer is None:
                self._start_header_timer()

        def on_headers_complete(self) -> None:
            if self.transport.is_closing():
                return
            if len(self.pipeline) >= limits.max_pipelined:
                # uvicorn queues every request a read holds behind the one being
                # answered: 256 KiB of "GET / HTTP/1.1" lines were 14,000 queued
                # requests, 16 MiB of memory per connection. Past the cap the
                # client is not using HTTP as a client does: it is dropped.
                _abort(self.transport)
                return
            self._in_headers = False
            self._cancel_header_timer()
            if _has_body(self.headers):
                self._start_body_timer()
            super().on_headers_complete()

        # -- body ------------------------------------------------------------------

        def _start_body_timer(self) -> None:
            now = self.loop.time()
            self._body_last_byte = now
            self._body_deadline = now + limits.body_timeout_s
            self._body_timer = self.loop.call_later(min(limits.body_idle_timeout_s, limits.body_timeout_s),
                                                    self._check_body)

        def _cancel_body_timer(self) -> None:
            timer = getattr(self, "_body_timer", None)
            if timer is not None:
                timer.cancel()
                self._body_timer = None

        def on_body(self, body: bytes) -> None:
            if self.transport.is_closing():
                return
            # One timer for the whole body, re-armed when it fires: a timer per
            # chunk would cost more than the chunk on a big upload.
            self._body_last_byte = self.loop.time()
            self._body_deadline += len(body) / limits.body_min_rate
            super().on_body(body)

        def _check_body(self) -> None:
            self._body_timer = None
            if self.transport.is_closing() or self._message_done:
                return
            now = self.loop.time()
            cycle = self.cycle
            if self.flow.read_paused or (cycle is not None and cycle.waiting_for_100_continue):
                # The app is not reading (or has not asked for the body yet):
                # the client cannot send, and is not the one holding things up.
                self._body_last_byte = now
                self._body_deadline = max(self._body_deadline, now + limits.body_idle_timeout_s)
            idle_until = self._body_last_byte + limits.body_idle_timeout_s
            if now >= idle_until or now >= self._body_deadline:
                if cycle is None or not cycle.response_started:
                    self.transport.write(_status(408, "Request Timeout"))
                self.transport.close()
                return
            self._body_timer = self.loop.call_at(min(idle_until, self._body_deadline), self._check_body)

        def on_message_complete(self) -> None:
            if self.transport.is_closing():
                return
            self._cancel_body_timer()
            self._message_done = True
            answered = self.cycle is not None and self.cycle.response_complete
            self._enter(IDLE if answered else ANSWERING)
            super().on_message_complete()

        def on_response_complete(self) -> None:
            # The next request on this connection is waited for by uvicorn's
            # keep-alive timeout; its headers are counted and timed from its
            # first byte (on_message_begin). Until then what arrives is the rest
            # of this request's body, which a response refused before reading
            # it all (a 413) leaves still coming: the body timer still runs.
            self._in_headers = False
            self._header_bytes = 0
            self.answered += 1
            if self._message_done:
                self._enter(IDLE)
            super().on_response_complete()

        # -- writing ---------------------------------------------------------------

        def pause_writing(self) -> None:
            super().pause_writing()
            if self._write_timer is None:
                self._write_timer = self.loop.call_later(limits.write_timeout_s, self._write_stalled)

        def resume_writing(self) -> None:
            self.progress_at = time.monotonic()  # the client read some
            if self._write_timer is not None:
                self._write_timer.cancel()
                self._write_timer = None
            super().resume_writing()

        def _write_stalled(self) -> None:
            self._write_timer = None
            if self.flow.write_paused and not self.transport.is_closing():
                log.debug("closing a connection from %s: it read nothing for %.0f s", self.address,
                          limits.write_timeout_s)
                # abort, not close: close would wait to write what is buffered,
                # to a client that does not read. The response's sends become
                # no-ops and an event stream sees the disconnect.
                _abort(self.transport)

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_header_timer()
            self._cancel_body_timer()
            if self._write_timer is not None:
                self._write_timer.cancel()
                self._write_timer = None
            admission.left(self)
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
