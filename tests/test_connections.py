"""Connection-level limits, before any request reaches the app: what another
process on the host can do to the port with raw sockets."""

from __future__ import annotations

import socket
import time
from typing import Callable

import psutil
import pytest

from conftest import Server, wait_for
from fastvideo_ui.connections import RESERVED_FDS, connection_cap


def _connect(server: Server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def test_headers_that_never_finish_are_cut_off(start_server: Callable[..., Server]) -> None:
    server = start_server("--header-timeout", "1")
    silent = _connect(server)  # connects, sends nothing
    slow = _connect(server)
    slow.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")  # ... and never the rest
    # The 408 is the header timer's own answer: nothing else sends one.
    assert _read_all(slow).startswith(b"HTTP/1.1 408 ")
    assert _read_all(silent).startswith(b"HTTP/1.1 408 ")
    # A request that does finish its headers in time is untouched by the timer.
    assert server.client.get("/api/health").status_code == 200


def test_a_huge_header_is_431_without_reading_it_all(start_server: Callable[..., Server]) -> None:
    server = start_server()
    assert server.proc is not None
    before = psutil.Process(server.proc.pid).memory_info().rss
    sock = _connect(server)
    sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Huge: ")
    answer = b""
    try:
        for _ in range(100 * 16):  # up to 100 MB, 64 KB at a time
            sock.sendall(b"a" * 65536)
    except OSError:  # the server closed the connection: the rest is never read
        pass
    answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:100]
    assert psutil.Process(server.proc.pid).memory_info().rss - before < 50 * 2**20
    assert server.client.get("/api/health").status_code == 200


@pytest.mark.slow
def test_connections_beyond_the_cap_are_closed_and_the_server_keeps_serving(
        start_server: Callable[..., Server]) -> None:
    server = start_server("--max-connections", "30", "--header-timeout", "2")
    idle = [_connect(server) for _ in range(60)]
    try:
        closed = 0
        for sock in idle:
            sock.settimeout(0.5)
            try:
                if sock.recv(1) == b"":
                    closed += 1
            except ConnectionResetError:  # aborted on arrival
                closed += 1
            except TimeoutError:
                pass
        assert closed >= 30  # those past the cap at once, or soon after
        # The idle ones within the cap go at the header timeout; then the server answers again.
        wait_for(lambda: _health(server), timeout=15, what="/api/health to answer again")
    finally:
        for sock in idle:
            sock.close()
    assert "Too many open files" not in server.output.read_text()


def _health(server: Server) -> bool:
    try:
        return server.client.get("/api/health", timeout=1).status_code == 200
    except Exception:  # noqa: BLE001 - refused or closed while the cap is full
        return False


def test_the_cap_stays_below_the_descriptor_limit() -> None:
    assert connection_cap(1024, 1024) == 1024 - RESERVED_FDS
    assert connection_cap(1024, 1_048_576) == 1024
    assert connection_cap(10, 100) == 1


def test_sigterm_with_a_hundred_event_streams_exits_at_once_and_cleanly(start_server: Callable[..., Server]) -> None:
    import signal

    server = start_server()
    assert server.proc is not None
    streams = []
    for _ in range(100):
        sock = _connect(server)
        sock.sendall(b"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        streams.append(sock)
    for sock in streams:
        assert sock.recv(4096).startswith(b"HTTP/1.1 200 ")
    server.proc.send_signal(signal.SIGTERM)
    server.proc.wait(30)
    for sock in streams:
        sock.close()
    # Without ending the streams it waited out its whole grace period, then said
    # "Cancel 100 running task(s), timeout graceful shutdown exceeded".
    output = server.output.read_text()
    assert "Traceback" not in output and "graceful shutdown exceeded" not in output


def test_a_refused_body_still_arriving_is_not_taken_for_headers(server: Server) -> None:
    # The 413 goes out while the client is still sending its chunked body: the
    # rest of that body is body, not the next request's headers (it was once
    # counted as such, and a 431 followed the 413 once 64 KiB more arrived).
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"4000\r\n" + b"x" * 0x4000 + b"\r\n"
        received = b""
        sent = 0
        sock.setblocking(False)
        while b"413" not in received and sent < 64:
            sock.sendall(chunk)
            sent += 1
            try:
                received += sock.recv(65536)
            except BlockingIOError:
                time.sleep(0.01)
        sock.setblocking(True)
        assert b"413" in received.split(b"\r\n", 1)[0], received[:200]
        for _ in range(16):  # 256 KiB more of the same body
            try:
                sock.sendall(chunk)
            except OSError:
                break  # the server may close once it has answered
        sock.settimeout(2)
        try:
            while True:
                more = sock.recv(65536)
                if not more:
                    break
                received += more
        except (TimeoutError, socket.timeout, ConnectionResetError):
            pass
    assert b"431" not in received, received[:400]


def test_connections_to_the_servers_own_socket_send_without_nagles_delay() -> None:
    import asyncio

    from conftest import run_in_own_loop
    from fastvideo_ui.server import listen

    listener = listen("127.0.0.1", 0)

    async def nodelay_of_an_accepted_connection() -> int:
        loop = asyncio.get_running_loop()
        accepted: asyncio.Future[int] = loop.create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                sock = transport.get_extra_info("socket")
                accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

        server = await loop.create_server(Probe, sock=listener)
        _, writer = await asyncio.open_connection(*listener.getsockname())
        try:
            return await asyncio.wait_for(accepted, 10)
        finally:
            writer.close()
            server.close()

    # asyncio sets TCP_NODELAY only on sockets that say they are TCP: without
    # it a response written in two parts waits out the client's delayed ACK.
    assert run_in_own_loop(nodelay_of_an_accepted_connection()) != 0
