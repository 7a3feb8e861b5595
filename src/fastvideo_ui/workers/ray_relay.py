"""The server's commands to its Ray workers, and their messages back.

Each worker is an actor (ray_host.WorkerHost) placed on the node the server
chose. A thread per worker long-polls its actor and relays what comes back:
log lines, protocol messages (a completed run's files brought home first), and
the worker's exit. Every call on an actor runs in a thread of its own, so a
slow node holds up no other worker.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from ..oserrors import describe_error
from .ray_files import FileShipper
from .ray_hosted import Hosted, Hosts, ToServer
from .ray_nodes import node_key

POLL_S = 1.0
START_TIMEOUT_S = 300.0  # an actor may wait this long for its GPUs to be released


class Relay:
    def __init__(self, link: ToServer, ray: Any, hosts: Hosts, shipper: FileShipper) -> None:
        self.link = link
        self.ray = ray
        self.hosts = hosts
        self.shipper = shipper
        # num_cpus=0: a GPU worker's CPU use is not Ray's to ration (and on a
        # small node an actor asking for a CPU can wait forever).
        options: dict[str, Any] = {"num_cpus": 0, "max_concurrency": 8, "max_restarts": 0}
        self._host_class: Any = ray.remote(**options)(_host_class())

    # -- commands: each returns at once -----------------------------------------

    def start(self, worker_id: int, node: str, gpus: int, nonce: str) -> None:
        hosted = Hosted(worker_id, node)
        self.hosts.add(hosted)
        threading.Thread(target=self._start, args=(hosted, gpus, nonce), daemon=True).start()

    def send(self, worker_id: int, message: dict[str, Any]) -> None:
        hosted = self._started(worker_id)
        if hosted is not None:
            threading.Thread(target=self._send, args=(hosted, message), daemon=True).start()

    def kill(self, worker_id: int) -> None:
        hosted = self._started(worker_id)
        if hosted is not None:
            threading.Thread(target=self._kill, args=(hosted, None), daemon=True).start()

    def _started(self, worker_id: int) -> Hosted | None:
        """The worker, once its actor exists (a command for any other is dropped)."""
        hosted = self.hosts.get(worker_id)
        return hosted if hosted is not None and hosted.actor is not None else None

    # -- on the command's own thread --------------------------------------------

    def _start(self, hosted: Hosted, gpus: int, nonce: str) -> None:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        try:
            strategy = NodeAffinitySchedulingStrategy(hosted.node, soft=False)
            hosted.actor = self._host_class.options(num_gpus=gpus, scheduling_strategy=strategy).remote(nonce)
            info = self.ray.get(hosted.actor.info.remote(), timeout=START_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - reported to the server as the worker's end
            self.hosts.end(hosted, -1, f"could not start a Ray worker on node {node_key(hosted.node)}: "
                                       f"{describe_error(exc)}")
            return
        hosted.scratch = info["scratch"]
        hosted.last_answer = time.monotonic()
        self.link.send({"op": "started", "worker": hosted.worker_id, "pid": info["pid"],
                        "gpus": info["gpus"], "node": info["node_id"]})
        self._pump(hosted)

    def _send(self, hosted: Hosted, message: dict[str, Any]) -> None:
        try:
            if message.get("type") == "run":
                message = self.shipper.localise(hosted, message)
            self.ray.get(hosted.actor.send.remote(message), timeout=30)
        except Exception as exc:  # noqa: BLE001
            if message.get("type") == "run":
                self._forward(hosted, {"type": "failed", "error": f"could not hand the job to its Ray worker: "
                                                                  f"{describe_error(exc)}"})

    def _kill(self, hosted: Hosted, reason: str | None) -> None:
        """The worker's whole process tree, then the actor; ray.kill is the backstop."""
        hosted.killing = True
        try:
            self.ray.get(hosted.actor.close.remote(), timeout=5)
        except Exception:  # noqa: BLE001 - the backstop below
            pass
        try:
            self.ray.kill(hosted.actor, no_restart=True)
        except Exception:  # noqa: BLE001
            pass
        self.hosts.end(hosted, -9, reason)

    # -- from the worker --------------------------------------------------------

    def _pump(self, hosted: Hosted) -> None:
        while not hosted.ended.is_set():
            try:
                batch = self.ray.get(hosted.actor.poll.remote(POLL_S), timeout=POLL_S + 30)
            except self.ray.exceptions.GetTimeoutError:
                continue
            except self.ray.exceptions.ActorUnavailableError:
                time.sleep(0.5)  # the node watcher's pings decide whether its node is lost
                continue
            except Exception as exc:  # noqa: BLE001 - the actor is gone
                self.hosts.end(hosted, -9, None if hosted.killing else f"its Ray actor died: {describe_error(exc)}")
                return
            hosted.last_answer = time.monotonic()
            for event in batch:
                if event["kind"] == "log":
                    self.link.send({"op": "log", "worker": hosted.worker_id, "text": event["text"]})
                elif event["kind"] == "message":
                    self._forward(hosted, event["message"])
                elif event["kind"] == "exit":
                    self.hosts.end(hosted, int(event["returncode"]), None)
                    self._kill(hosted, None)  # the actor, now that its worker is gone

    def _forward(self, hosted: Hosted, message: dict[str, Any]) -> None:
        if message.get("type") == "completed":
            message = self.shipper.bring_home(hosted, message)
        elif message.get("type") in ("failed", "stopped"):
            self.shipper.discard(hosted)
        self.link.send({"op": "message", "worker": hosted.worker_id, "message": message})


def _host_class() -> type:
    from .ray_host import WorkerHost

    return WorkerHost
