"""The server's one Ray driver: `python -m fastvideo_ui.workers.ray_bridge`.

The server never imports Ray. It starts this process, which connects to the
cluster and speaks JSON lines over a socketpair (ops below). A Ray driver
exits when it loses the head for long, and takes its process with it; here that
ends the bridge, not the server, which says so in /api/health and starts a new
bridge until the head is back.

Server -> bridge: {"op": "start", "worker", "node", "gpus", "nonce"},
{"op": "send", "worker", "message"}, {"op": "kill", "worker"}.
Bridge -> server: {"op": "nodes", "nodes": [...]}, {"op": "started", "worker",
"pid", "gpus", "node"}, {"op": "message", "worker", "message"}, {"op": "log",
"worker", "text"}, {"op": "exit", "worker", "returncode", "reason"}.

Here: the link and the command loop. The relay (ray_relay.py) runs the
commands and passes the workers' messages back, with their files brought home
(ray_files.py, through the object store or --shared-dir); the node watcher
(ray_nodes.py) sends the node table and finds lost nodes and a lost head.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import threading
from pathlib import Path
from typing import Any

from ..oserrors import describe_error
from . import protocol
from .ray_files import FileShipper
from .ray_hosted import Hosts
from .ray_nodes import NodeWatcher
from .ray_relay import Relay

log = logging.getLogger("fastvideo_ui.ray")

CONNECT_TIMEOUT_S = 30.0


class Link:
    """The bridge's end of the socketpair, shared by its threads."""

    def __init__(self, fd: int) -> None:
        self.sock = socket.socket(fileno=fd)
        self._lock = threading.Lock()

    def send(self, message: dict[str, Any]) -> None:
        with self._lock:
            self.sock.sendall(protocol.encode({"type": "bridge", **message}))


def handle(relay: Relay, command: dict[str, Any]) -> None:
    """One command from the server, handed to the relay (which returns at once)."""
    op = command["op"]
    worker_id = int(command["worker"])
    if op == "start":
        relay.start(worker_id, str(command["node"]), int(command["gpus"]), str(command["nonce"]))
    elif op == "send":
        relay.send(worker_id, command["message"])
    elif op == "kill":
        relay.kill(worker_id)


def _guard(target: Any, name: str) -> threading.Thread:
    """A watcher thread whose failure (the cluster is gone) ends the bridge."""
    def run() -> None:
        try:
            target()
        except BaseException as exc:  # noqa: BLE001
            why = str(exc) if isinstance(exc, ConnectionError) else f"{name} stopped: {describe_error(exc)}"
            print(f"ray bridge: {why}", file=sys.stderr, flush=True)
            os._exit(3)

    return threading.Thread(target=run, daemon=True, name=name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fastvideo_ui.workers.ray_bridge")
    parser.add_argument("--address", required=True)
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--shared-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    link = Link(args.fd)
    import ray

    def give_up() -> None:
        print(f"ray bridge: cannot connect to Ray at {args.address}: no answer in {CONNECT_TIMEOUT_S:g} s "
              f"(is `ray start --head` running there, and reachable from here?)", file=sys.stderr, flush=True)
        os._exit(2)

    timer = threading.Timer(CONNECT_TIMEOUT_S, give_up)  # ray.init can keep retrying for minutes
    timer.daemon = True
    timer.start()
    try:
        ray.init(address=args.address, namespace="fastvideo-ui", log_to_driver=False,
                 logging_level=logging.WARNING)
    except Exception as exc:  # noqa: BLE001 - the server shows this line in /api/health
        print(f"ray bridge: cannot connect to Ray at {args.address}: {describe_error(exc)}",
              file=sys.stderr, flush=True)
        return 2
    timer.cancel()
    hosts = Hosts(link)
    relay = Relay(link, ray, hosts, FileShipper(ray, args.shared_dir))
    nodes = NodeWatcher(link, ray, hosts)
    _guard(nodes.watch_nodes, "node watcher").start()
    _guard(nodes.ping, "pinger").start()
    reader = link.sock.makefile("rb")
    for line in reader:  # the server closed its end: the bridge ends, and Ray ends its actors
        try:
            handle(relay, protocol.decode(line))
        except (ValueError, KeyError) as exc:
            log.warning("bad command from the server: %s", exc)
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
