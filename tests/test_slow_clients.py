"""Clients that are slow on purpose: a body sent a byte at a time, a flood of
such connections from one address, and readers that stop reading. Each holds
a connection (and what is being written to it) only for a bounded time, and
none keeps a new client out."""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import PREVIEW, InProcessServer, wait_for

BIG_PROMPT = "a fox " * 1666  # 9,996 characters, as the limit allows


@pytest.fixture
def start_in_process(tmp_path: Path) -> Iterator[Any]:
    servers: list[InProcessServer] = []

    def start(*args: str) -> InProcessServer:
        server = InProcessServer(tmp_path / f"data{len(servers)}", list(args))
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.terminate()
        server.client.close()


def _connect(server: InProcessServer, source: str = "127.0.0.1", receive_buffer: int | None = None
             ) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if receive_buffer is not None:  # before connecting, so the window offered is small from the start
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.bind((source, 0))
    sock.settimeout(30)
    sock.connect(("127.0.0.1", server.port))
    return sock


def _start_body(server: InProcessServer, source: str = "127.0.0.1") -> socket.socket:
    """A sign-in (public, and read before any check) whose body has begun and not ended."""
    sock = _connect(server, source)
    sock.sendall(b"POST /api/session HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 1000\r\n\r\n{\"token\": \"")
    return sock


def _answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except (ConnectionResetError, TimeoutError, socket.timeout):
        pass
    return b"".join(chunks)


def _open(sock: socket.socket) -> bool:
    """Whether the server still holds this connection open: it has neither
    closed nor reset it (whatever it wrote before closing, a 503 say)."""
    poller = select.poll()
    poller.register(sock, select.POLLRDHUP)
    return not any(events & (select.POLLRDHUP | select.POLLHUP | select.POLLERR) for _, events in poller.poll(0))


def test_a_body_that_stops_coming_is_cut_off(start_in_process: Any) -> None:
    server = start_in_process("--body-idle-timeout", "1")
    sock = _start_body(server)
    # Without a body timer this waited for ever: the headers were in, so no timer ran.
    assert _answer(sock).startswith(b"HTTP/1.1 408 ")
    assert server.client.get("/api/health").status_code == 200


def test_a_body_trickled_a_byte_at_a_time_is_cut_off_at_its_deadline(start_in_process: Any) -> None:
    # Each byte comes well within the idle timeout; the body as a whole is
    # owed within --body-timeout plus a second per --body-min-rate bytes.
    server = start_in_process("--body-idle-timeout", "5", "--body-timeout", "2", "--body-min-rate", "1000")
    sock = _start_body(server)
    closed = threading.Event()

    def trickle() -> None:
        for _ in range(200):  # 40 s of it, far past the deadline
            if closed.wait(0.2):
                return
            try:
                sock.send(b"a")
            except OSError:
                return

    sender = threading.Thread(target=trickle)
    sender.start()
    answer = _answer(sock)
    closed.set()
    sender.join()
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]


@pytest.mark.slow
def test_an_upload_that_keeps_up_the_minimum_rate_is_not_cut_off(start_in_process: Any) -> None:
    # The deadline grows with what arrives: 400 KB at about 100 KB/s outlasts
    # a 1 s --body-timeout, and the route still gets the whole body.
    server = start_in_process("--body-timeout", "1", "--body-min-rate", "50000")
    sock = _connect(server)
    body = b"\x00" * 400_000
    sock.sendall(b"POST /api/media/settings HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: video/mp4\r\n"
                 b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body))
    for start in range(0, len(body), 10_000):
        sock.sendall(body[start:start + 10_000])
        time.sleep(0.1)
    answer = _answer(sock)
    assert answer.startswith(b"HTTP/1.1 415 "), answer[:200]  # read whole, and found not to be an MP4


def test_a_flood_of_slow_bodies_does_not_keep_a_new_client_out(start_in_process: Any) -> None:
    server = start_in_process("--max-connections", "20")
    flood = [_start_body(server) for _ in range(40)]
    try:
        # Each newcomer took the place of the connection that had waited longest;
        # the ones past the cap used to be closed on arrival, and the cap stayed full.
        response = httpx.get(f"{server.url}/api/health", timeout=10)
        assert response.status_code == 200
        # The excess is settled a moment after it arrives (admission.SETTLE_S).
        wait_for(lambda: sum(_open(sock) for sock in flood) <= 20, timeout=10, what="the flood to be cut to the cap")
        assert _open(flood[-1])  # the newest waited least, and is kept
        # The oldest gave way: told so with a 503 if its request had been read,
        # else closed (a reset, when the kernel still held its unread bytes).
        assert not _open(flood[0])
    finally:
        for sock in flood:
            sock.close()


def test_one_client_cannot_take_every_connection_even_from_many_loopback_addresses(start_in_process: Any) -> None:
    server = start_in_process("--max-connections-per-client", "5")
    # A local process may bind any of 127.0.0.0/8: every one of them is this machine, one client.
    mine = [_start_body(server, source=f"127.0.0.{2 + at % 3}") for at in range(8)]
    try:
        wait_for(lambda: sum(_open(sock) for sock in mine) == 5, timeout=10, what="this machine to hold 5 connections")
        assert [_open(sock) for sock in mine] == [False] * 3 + [True] * 5  # its own longest idle gave way
    finally:
        for sock in mine:
            sock.close()


def _stalled_request(server: InProcessServer, path: str) -> socket.socket:
    """A request whose answer is never read: a receive window of a few KB, kept shut."""
    sock = _connect(server, receive_buffer=4096)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    return sock


def _held_by_server(server: InProcessServer, sock: socket.socket) -> bool:
    """Whether the server still holds this client's connection: a connection
    closed with data still to write is held until that data is written."""
    local = sock.getsockname()
    return any(connection.client == local for connection in server._uvicorn.server_state.connections)


def _big_jobs(server: InProcessServer, count: int) -> None:
    # About 20 KB each: more than the socket buffers of loopback can hold, in all.
    for _ in range(count):
        response = server.client.post("/api/jobs", json={
            "model_id": PREVIEW, "prompt": BIG_PROMPT, "negative_prompt": BIG_PROMPT, "height": 64, "width": 64})
        assert response.status_code == 201, response.text


@pytest.mark.slow
def test_a_reader_that_stops_reading_a_job_page_is_let_go(start_in_process: Any) -> None:
    server = start_in_process("--write-timeout", "1")
    _big_jobs(server, 400)
    sock = _stalled_request(server, "/api/jobs?limit=1000")
    try:
        assert sock.recv(12) == b"HTTP/1.1 200"
        # Without a write timeout the server waited on this reader for ever,
        # holding the page it could not send.
        wait_for(lambda: not _held_by_server(server, sock), timeout=60, what="the stalled connection to be closed")
        assert server.client.get("/api/health").status_code == 200
    finally:
        sock.close()


@pytest.mark.slow
def test_an_event_stream_nobody_reads_is_closed(start_in_process: Any) -> None:
    server = start_in_process("--write-timeout", "1")
    sock = _stalled_request(server, "/api/events")
    try:
        assert sock.recv(12) == b"HTTP/1.1 200"
        _big_jobs(server, 400)  # each `created` event carries the job
        wait_for(lambda: not _held_by_server(server, sock), timeout=60, what="the stalled stream to be closed")
    finally:
        sock.close()


def _chunk_sizes(body: bytes) -> list[int]:
    """The sizes of the chunks of an HTTP/1.1 chunked body: one per write the server made."""
    sizes = []
    while True:
        line, _, body = body.partition(b"\r\n")
        size = int(line, 16)
        if size == 0:
            return sizes
        sizes.append(size)
        body = body[size + 2:]


def test_a_page_of_jobs_goes_out_in_bounded_chunks(start_in_process: Any) -> None:
    from fastvideo_ui.api.streaming import CHUNK_TEXT_CHARS

    server = start_in_process()
    count = 3 * CHUNK_TEXT_CHARS // (2 * len(BIG_PROMPT)) + 5  # three chunks' worth and more
    _big_jobs(server, count)
    sock = _connect(server)
    sock.sendall(b"GET /api/jobs?limit=1000 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    head, _, body = _answer(sock).partition(b"\r\n\r\n")
    sock.close()
    assert b"transfer-encoding: chunked" in head.lower(), head
    sizes = _chunk_sizes(body)
    assert sum(sizes) > count * 2 * len(BIG_PROMPT)
    # A chunk of jobs at a time, never the page: each within the chunk's text and one job's other fields.
    assert len(sizes) >= 3 and max(sizes) < CHUNK_TEXT_CHARS + 2 * (2 * len(BIG_PROMPT) + 2000)
    whole = server.client.get("/api/jobs", params={"limit": 1000})
    assert len(whole.json()) == count and whole.headers["x-total-count"] == str(count)
    assert "link" not in whole.headers
    # A streamed page still says where the next one starts, before its jobs.
    page = server.client.get("/api/jobs", params={"limit": count - 3})
    assert page.headers.get("transfer-encoding") == "chunked" and len(page.json()) == count - 3
    assert page.headers["x-next-before"] == page.json()[-1]["id"]
    rest = server.client.get("/api/jobs", params={"limit": count - 3, "before": page.headers["x-next-before"]})
    assert "link" not in rest.headers
    assert [job["id"] for job in page.json() + rest.json()] == [job["id"] for job in whole.json()]


def test_a_chunk_stops_at_its_characters_and_the_next_goes_on_from_there(tmp_path: Path) -> None:
    from fastvideo_ui.database.engine import make_engine
    from fastvideo_ui.database.migrate import migrate
    from fastvideo_ui.jobs.store import EVERY_JOB, JobStore

    engine = make_engine(tmp_path / "jobs.sqlite3")
    migrate(engine)
    store = JobStore(engine)
    sizes = [10, 10, 10, 95, 1, 1, 200, 3]
    for at, size in enumerate(sizes):
        store.create(id=f"job{at}", model_id=PREVIEW, prompt="p" * size, status="pending", created_at=100.0 - at,
                     num_inference_steps=3, num_frames=4, height=64, width=64, guidance_scale=1.0, seed=1, fps=8,
                     num_gpus=1)
    chunks, after = [], None
    while True:
        rows, more = store.list_chunk(("id", "created_at", "prompt"), 1000, after, EVERY_JOB, max_text_chars=100)
        chunks.append([row[0] for row in rows])
        if not more:
            break
        after = (rows[-1][1], rows[-1][0])
    # Each chunk ends at the job that reaches the characters; none is left out or repeated.
    assert chunks == [["job0", "job1", "job2", "job3"], ["job4", "job5", "job6"], ["job7"]]
    rows, more = store.list_chunk(("id",), 2, None, EVERY_JOB, max_text_chars=10**6)
    assert [row[0] for row in rows] == ["job0", "job1"] and more
    engine.dispose()


def test_a_flood_of_pipelined_requests_is_dropped_not_queued(start_in_process: Any) -> None:
    import tracemalloc

    server = start_in_process("--max-pipelined", "8")
    # One read of 256 KiB holds about 7,000 of these: uvicorn parsed and queued
    # them all (16 MiB a connection) while it answered the first.
    request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    socks = [_connect(server, receive_buffer=4096) for _ in range(4)]
    tracemalloc.start()
    try:
        for sock in socks:
            try:
                sock.sendall(request * (256 * 1024 // len(request)))
            except OSError:
                pass  # closed on us mid-send: what is asked
        wait_for(lambda: not any(_held_by_server(server, sock) for sock in socks), timeout=30,
                 what="the pipelining connections to be dropped")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        for sock in socks:
            sock.close()
    assert peak < 8 * 2**20, f"{peak / 2**20:.0f} MiB"
    assert server.client.get("/api/health").status_code == 200


def test_an_upload_that_keeps_sending_is_not_the_one_that_gives_way(start_in_process: Any) -> None:
    server = start_in_process("--max-connections", "20")
    sock = _connect(server)
    body = b"\x00" * 600_000
    sock.sendall(b"POST /api/media/settings HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: video/mp4\r\n"
                 b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body))
    flood: list[socket.socket] = []
    try:
        for at, start in enumerate(range(0, len(body), 20_000)):
            sock.sendall(body[start:start + 20_000])
            if 5 <= at < 13:
                # The upload has begun before any of them, and keeps sending while they arrive, five
                # between each of its chunks (it did pause for all forty at once: on a loaded machine that
                # made it silent for longer than the newest of them, which is what gives way).
                flood += [_connect(server) for _ in range(5)]
            else:
                time.sleep(0.05)
        # It used to be the first to go: it had been receiving the longest.
        assert _answer(sock).startswith(b"HTTP/1.1 415 ")
    finally:
        for other in (sock, *flood):
            other.close()


@pytest.mark.slow
def test_responses_nobody_reads_do_not_keep_a_new_client_out(start_in_process: Any) -> None:
    server = start_in_process("--max-connections", "20")
    _big_jobs(server, 400)  # a page of them is more than a socket's buffers hold
    stalled = [_stalled_request(server, "/api/jobs?limit=1000") for _ in range(30)]
    try:
        # Each was being answered, so none gave way, and a newcomer was closed on arrival.
        assert httpx.get(f"{server.url}/api/health", timeout=10).status_code == 200
    finally:
        for sock in stalled:
            sock.close()


def _kernel_holds(server_port: int, client: socket.socket) -> bool:
    """Whether the kernel still holds the server's end of this connection
    (in any state: an orphan closed by the server and still sending counts)."""
    local, remote = f"0100007F:{server_port:04X}", f"0100007F:{client.getsockname()[1]:04X}"
    with open("/proc/net/tcp") as table:
        return any(line.split()[1:3] == [local, remote] for line in table.readlines()[1:])


def test_an_unread_response_is_dropped_by_the_kernel_too(start_in_process: Any) -> None:
    server = start_in_process("--write-timeout", "1")
    size = len(server.client.get("/docs/swagger-ui/swagger-ui-bundle.js").content)
    sock = _connect(server, receive_buffer=4096)
    sock.sendall(b"GET /docs/swagger-ui/swagger-ui-bundle.js HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 b"Connection: close\r\n\r\n")
    try:
        # The response fits the kernel's buffers, so the server hands it over
        # whole and closes its side at once. The kernel kept the unread rest for
        # minutes (a thousand such held 1.5 GB of the host's TCP memory), and
        # sent it when the client read at last; it drops it after --write-timeout.
        wait_for(lambda: not _kernel_holds(server.port, sock), timeout=30, what="the kernel to drop the connection")
        assert len(_answer(sock)) < size
    finally:
        sock.close()
