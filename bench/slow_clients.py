"""Whether the server keeps answering while one address floods it with slow
connections. Prints figures; asserts nothing.

    .venv/bin/python bench/slow_clients.py [--connections 1027] [--seconds 42] [--interval 5] [--mode body]

Opens `--connections` sockets from one loopback address, each sending a
request whose body (`--mode body`: POST /api/session, public) or headers
(`--mode headers`) trickle a byte every `--interval` seconds, and keeps
replacing the ones the server closes. Meanwhile a probe asks GET /api/health
once a second from a fresh connection. Prints how many probes were answered,
their median and worst latency, and how many connections the flood held at the
end. The attack of issue 24: 1,027 connections, a byte every 5 s; /api/health
answered 0 of 43 probes over 42 s.

To measure another commit's code, run it with PYTHONPATH=/path/to/its/src.
"""

from __future__ import annotations

import argparse
import selectors
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import Server  # noqa: E402

HEADERS = b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
BODY = (b"POST /api/session HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100000\r\n\r\n{\"token\": \"")


def flood(port: int, count: int, interval: float, start: bytes, stop: threading.Event, held: list[int]) -> None:
    selector = selectors.DefaultSelector()
    open_socks: set[socket.socket] = set()

    def connect() -> None:
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(start)
        except OSError:
            return
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
        open_socks.add(sock)

    for _ in range(count):
        connect()
    next_drip = time.monotonic() + interval
    while not stop.is_set():
        for key, _ in selector.select(timeout=0.2):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            try:
                data = sock.recv(4096)
            except OSError:
                data = b""
            if not data:  # closed by the server: open another in its place
                selector.unregister(sock)
                open_socks.discard(sock)
                sock.close()
                connect()
        if time.monotonic() >= next_drip:
            next_drip += interval
            for sock in list(open_socks):
                try:
                    sock.send(b"a")
                except OSError:
                    pass
        held[0] = len(open_socks)
    for sock in open_socks:
        sock.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=1027)
    parser.add_argument("--seconds", type=float, default=42)
    parser.add_argument("--interval", type=float, default=5)
    parser.add_argument("--mode", choices=("body", "headers"), default="body")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as data:
        server = Server(Path(data), []).start()
        stop = threading.Event()
        held = [0]
        flooder = threading.Thread(target=flood, args=(server.port, args.connections, args.interval,
                                                        BODY if args.mode == "body" else HEADERS, stop, held))
        flooder.start()
        time.sleep(2)  # let the flood open its connections
        latencies: list[float] = []
        probes = 0
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline:
            probes += 1
            started = time.perf_counter()
            try:
                if httpx.get(f"{server.url}/api/health", timeout=5).status_code == 200:
                    latencies.append(time.perf_counter() - started)
            except httpx.HTTPError:
                pass
            time.sleep(max(0.0, 1 - (time.perf_counter() - started)))
        stop.set()
        flooder.join()
        server.terminate()
    print(f"flood: {args.connections} connections from 127.0.0.1, a byte of the {args.mode} every "
          f"{args.interval:g} s; {held[0]} held open at the end")
    print(f"/api/health answered {len(latencies)} of {probes} probes over {args.seconds:g} s", end="")
    if latencies:
        print(f"; median {statistics.median(latencies) * 1000:.1f} ms, worst {max(latencies) * 1000:.1f} ms")
    else:
        print()


if __name__ == "__main__":
    main()
