"""The cluster's nodes as the Ray bridge sees them: Ray's node table, sent to
the server when it changes, and the lost nodes Ray has not noticed yet.

A killed machine's actors cannot even say they died, and Ray's own health
check takes about 15 s to notice; so every worker's actor is pinged, and one
that stops answering has its node declared lost here: its workers end (the
server requeues their jobs) and the node leaves the inventory, so no job is
sent there again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection
from typing import Any

from .ray_hosted import Hosted, Hosts, ToServer

NODES_EVERY_S = 1.0
PING_EVERY_S = 1.0
# An actor that answers no ping for this long is on a lost node (Ray's own
# health check takes about 15 s to say so by default).
LOST_AFTER_S = 6.0
# The head has not answered for this long: it is gone. (Ray's driver keeps
# retrying for a minute; the server should say so sooner.)
HEAD_LOST_AFTER_S = 15.0
# A node we found lost is left out of the inventory until Ray agrees (about
# 15 s), so no job is sent there again; if Ray never does, it comes back after this.
LOST_NODE_HOLD_S = 60.0


def node_key(node_id: str) -> str:
    return node_id[:8]


def describe_nodes(nodes: list[dict[str, Any]], lost: Collection[str] = ()) -> list[dict[str, Any]]:
    """Ray's node table, as the server keeps it: alive nodes and their GPUs,
    less those the bridge found lost."""
    out = []
    for node in nodes:
        if not node.get("Alive") or node["NodeID"] in lost:
            continue
        out.append({"id": node["NodeID"], "key": node_key(node["NodeID"]),
                    "name": node.get("NodeName") or node.get("NodeManagerAddress") or "",
                    "gpus": int(node.get("Resources", {}).get("GPU", 0))})
    return sorted(out, key=lambda node: (node["name"], node["id"]))


class NodeWatcher:
    def __init__(self, link: ToServer, ray: Any, hosts: Hosts) -> None:
        self.link = link
        self.ray = ray
        self.hosts = hosts
        self.head_answered = time.monotonic()
        self.lost_nodes: dict[str, float] = {}  # node id -> when we found it lost
        self._table: list[dict[str, Any]] = []  # ray.nodes(), as last read
        self._sent_nodes: list[dict[str, Any]] | None = None
        self._lock = threading.Lock()

    def watch_nodes(self) -> None:
        """Reads the node table for ever (a thread of its own)."""
        while True:
            self.read_nodes()
            time.sleep(NODES_EVERY_S)

    def read_nodes(self) -> None:
        """Sends the node table if it changed; a worker on a node that left ends."""
        table = self.ray.nodes()
        self.head_answered = time.monotonic()
        alive_in_ray = {node["NodeID"] for node in table if node.get("Alive")}
        with self._lock:
            self._table = table
            self.lost_nodes = {node: at for node, at in self.lost_nodes.items()
                               if node in alive_in_ray and time.monotonic() - at < LOST_NODE_HOLD_S}
        alive = {node["id"] for node in self.publish_nodes()}
        for hosted in self.hosts.all():
            if hosted.node not in alive and hosted.actor is not None:
                self.lose(hosted, "its node left the cluster")

    def publish_nodes(self) -> list[dict[str, Any]]:
        """The node table, less lost nodes, sent to the server if it changed."""
        with self._lock:
            nodes = describe_nodes(self._table, set(self.lost_nodes))
            if nodes != self._sent_nodes:
                self.link.send({"op": "nodes", "nodes": nodes})
                self._sent_nodes = nodes
        return nodes

    def ping(self) -> None:
        """Pings every worker's actor for ever (a thread of its own); raises
        ConnectionError when the head is gone, which ends the bridge."""
        while True:
            self.ping_round()
            time.sleep(PING_EVERY_S)

    def ping_round(self) -> None:
        """Ends a worker whose actor has not answered for LOST_AFTER_S: its node is lost."""
        if time.monotonic() - self.head_answered > HEAD_LOST_AFTER_S:
            raise ConnectionError(f"the Ray head has not answered for {HEAD_LOST_AFTER_S:g} s")
        for hosted in self.hosts.all():
            if hosted.actor is None or not hosted.scratch or hosted.killing:
                continue
            try:
                self.ray.get(hosted.actor.ping.remote(), timeout=PING_EVERY_S)
                hosted.last_answer = time.monotonic()
            except Exception:  # noqa: BLE001
                if time.monotonic() - hosted.last_answer > LOST_AFTER_S:
                    self.lose(hosted, f"no answer for {LOST_AFTER_S:g} s")

    def lose(self, hosted: Hosted, why: str) -> None:
        """Ends a worker whose node is lost, and every other worker on that node."""
        if hosted.ended.is_set():
            return
        with self._lock:
            self.lost_nodes.setdefault(hosted.node, time.monotonic())
        self.publish_nodes()  # first: its job is requeued on the exit, and must not go back there
        self.hosts.end(hosted, -9, f"node {node_key(hosted.node)} lost ({why})")
        try:
            self.ray.kill(hosted.actor, no_restart=True)
        except Exception:  # noqa: BLE001
            pass
        for other in self.hosts.all():
            if other.node == hosted.node:
                threading.Thread(target=self.lose, args=(other, why), daemon=True).start()
