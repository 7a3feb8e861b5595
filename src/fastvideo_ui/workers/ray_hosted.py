"""The Ray bridge's workers: one `Hosted` per worker actor, kept in `Hosts`,
which the bridge's threads (the relay's, the node watcher's) share."""

from __future__ import annotations

import threading
import time
from typing import Any, Protocol


class ToServer(Protocol):
    """Where the bridge's messages go: the socketpair to the server (ray_bridge.Link)."""

    def send(self, message: dict[str, Any]) -> None: ...


class Hosted:
    """One worker actor and what the bridge knows of it."""

    def __init__(self, worker_id: int, node: str) -> None:
        self.worker_id = worker_id
        self.node = node
        self.actor: Any = None
        self.scratch = ""
        self.last_answer = time.monotonic()
        # The running job's video and poster: where the worker writes each -> where it goes home.
        # (A worker runs one job at a time.)
        self.homes: dict[str, str] = {}
        self.ended = threading.Event()
        self.killing = False  # we are ending it: its actor's death is ours, not a lost node


class Hosts:
    """The workers by id. A worker's end is told to the server once, whichever
    thread sees it first (its exit, a kill, a lost node)."""

    def __init__(self, link: ToServer) -> None:
        self.link = link
        self._by_id: dict[int, Hosted] = {}
        self._lock = threading.Lock()

    def add(self, hosted: Hosted) -> None:
        with self._lock:
            self._by_id[hosted.worker_id] = hosted

    def get(self, worker_id: int) -> Hosted | None:
        with self._lock:
            return self._by_id.get(worker_id)

    def all(self) -> list[Hosted]:
        """A copy: a worker may end while the caller goes through them."""
        with self._lock:
            return list(self._by_id.values())

    def end(self, hosted: Hosted, returncode: int, reason: str | None) -> None:
        with self._lock:
            if hosted.ended.is_set():
                return
            hosted.ended.set()
            self._by_id.pop(hosted.worker_id, None)
        self.link.send({"op": "exit", "worker": hosted.worker_id, "returncode": returncode, "reason": reason})
