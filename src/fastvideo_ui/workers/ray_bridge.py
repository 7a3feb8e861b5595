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

A run message names the server's output paths; the worker writes into its
actor's scratch directory instead, and the bridge brings the files home into
the server's output directory, through the object store, before it passes the
"completed" on. With --shared-dir (mounted at the same path on every node and
on the server), the worker writes there and the bridge moves the files home.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import socket
import sys
import threading
import time
from collections.abc import Collection
from pathlib import Path
from typing import Any

from . import protocol
from ..oserrors import describe_error

log = logging.getLogger("fastvideo_ui.ray")

POLL_S = 1.0
NODES_EVERY_S = 1.0
PING_EVERY_S = 1.0
# An actor that answers no ping for this long is on a lost node (Ray's own
# health check takes about 15 s to say so by default).
LOST_AFTER_S = 6.0
CONNECT_TIMEOUT_S = 30.0
START_TIMEOUT_S = 300.0  # an actor may wait this long for its GPUs to be released
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


class Link:
    """The bridge's end of the socketpair, shared by its threads."""

    def __init__(self, fd: int) -> None:
        self.sock = socket.socket(fileno=fd)
        self._lock = threading.Lock()

    def send(self, message: dict[str, Any]) -> None:
        with self._lock:
            self.sock.sendall(protocol.encode({"type": "bridge", **message}))


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


class Bridge:
    def __init__(self, link: Link, shared_dir: Path | None = None) -> None:
        import ray

        self.ray = ray
        self.link = link
        self.shared_dir = shared_dir
        self.hosted: dict[int, Hosted] = {}
        self.head_answered = time.monotonic()
        self.lost_nodes: dict[str, float] = {}  # node id -> when we found it lost
        self._table: list[dict[str, Any]] = []  # ray.nodes(), as last read
        self._sent_nodes: list[dict[str, Any]] | None = None
        self._lock = threading.Lock()
        # num_cpus=0: a GPU worker's CPU use is not Ray's to ration (and on a
        # small node an actor asking for a CPU can wait forever).
        options: dict[str, Any] = {"num_cpus": 0, "max_concurrency": 8, "max_restarts": 0}
        self._host_class: Any = ray.remote(**options)(_host_class())

    # -- commands ---------------------------------------------------------------

    def handle(self, command: dict[str, Any]) -> None:
        op = command["op"]
        worker_id = int(command["worker"])
        if op == "start":
            hosted = Hosted(worker_id, str(command["node"]))
            with self._lock:
                self.hosted[worker_id] = hosted
            threading.Thread(target=self._start, args=(hosted, int(command["gpus"]), str(command["nonce"])),
                             daemon=True).start()
            return
        hosted_or_none = self.hosted.get(worker_id)
        if hosted_or_none is None or hosted_or_none.actor is None:
            return
        if op == "send":
            threading.Thread(target=self._send, args=(hosted_or_none, command["message"]), daemon=True).start()
        elif op == "kill":
            threading.Thread(target=self._kill, args=(hosted_or_none, None), daemon=True).start()

    def _start(self, hosted: Hosted, gpus: int, nonce: str) -> None:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        try:
            strategy = NodeAffinitySchedulingStrategy(hosted.node, soft=False)
            hosted.actor = self._host_class.options(num_gpus=gpus, scheduling_strategy=strategy).remote(nonce)
            info = self.ray.get(hosted.actor.info.remote(), timeout=START_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - reported to the server as the worker's end
            self._end(hosted, -1, f"could not start a Ray worker on node {node_key(hosted.node)}: "
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
                message = self._localise(hosted, message)
            self.ray.get(hosted.actor.send.remote(message), timeout=30)
        except Exception as exc:  # noqa: BLE001
            if message.get("type") == "run":
                self._forward(hosted, {"type": "failed", "error": f"could not hand the job to its Ray worker: "
                                                                  f"{describe_error(exc)}"})

    def _localise(self, hosted: Hosted, message: dict[str, Any]) -> dict[str, Any]:
        """The run message with paths on the worker's node: outputs in its
        scratch directory, and the input image copied there."""
        where = str(self.shared_dir) if self.shared_dir else hosted.scratch
        video = f"{where}/{Path(message['output_path']).name}"
        poster = f"{where}/{Path(message['poster_path']).name}"
        hosted.homes = {video: message["output_path"], poster: message["poster_path"]}
        localised = {**message, "output_path": video, "poster_path": poster}
        if message.get("image_path"):
            data = Path(message["image_path"]).read_bytes()
            localised["image_path"] = self.ray.get(
                hosted.actor.put_file.remote(Path(message["image_path"]).name, data), timeout=60)
        return localised

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
        self._end(hosted, -9, reason)

    # -- relays -----------------------------------------------------------------

    def _pump(self, hosted: Hosted) -> None:
        while not hosted.ended.is_set():
            try:
                batch = self.ray.get(hosted.actor.poll.remote(POLL_S), timeout=POLL_S + 30)
            except self.ray.exceptions.GetTimeoutError:
                continue
            except self.ray.exceptions.ActorUnavailableError:
                time.sleep(0.5)  # the pinger decides whether its node is lost
                continue
            except Exception as exc:  # noqa: BLE001 - the actor is gone
                self._end(hosted, -9, None if hosted.killing else f"its Ray actor died: {describe_error(exc)}")
                return
            hosted.last_answer = time.monotonic()
            for event in batch:
                if event["kind"] == "log":
                    self.link.send({"op": "log", "worker": hosted.worker_id, "text": event["text"]})
                elif event["kind"] == "message":
                    self._forward(hosted, event["message"])
                elif event["kind"] == "exit":
                    self._end(hosted, int(event["returncode"]), None)
                    self._kill(hosted, None)  # the actor, now that its worker is gone

    def _forward(self, hosted: Hosted, message: dict[str, Any]) -> None:
        if message.get("type") == "completed":
            message = self._bring_home(hosted, message)
        elif message.get("type") in ("failed", "stopped") and self.shared_dir is not None:
            # What a run that did not complete left in the shared directory (the
            # scratch directory goes with its actor).
            for written in hosted.homes:
                Path(written).unlink(missing_ok=True)
            hosted.homes = {}
        self.link.send({"op": "message", "worker": hosted.worker_id, "message": message})

    def _bring_home(self, hosted: Hosted, message: dict[str, Any]) -> dict[str, Any]:
        """Copies the video and poster into the server's output directory; the
        message then names those copies. A video that cannot come home fails the run."""
        homes, hosted.homes = hosted.homes, {}
        home_video = homes.get(message["video_path"])
        if home_video is None:
            return {"type": "failed", "error": f"the Ray worker reported an unexpected file {message['video_path']}"}
        try:
            self._fetch(hosted, message["video_path"], home_video)
        except Exception as exc:  # noqa: BLE001
            return {"type": "failed", "error": f"the video could not be copied from its node: {describe_error(exc)}"}
        poster = homes.get(message.get("poster_path") or "")
        if poster is not None:
            try:
                self._fetch(hosted, message["poster_path"], poster)
            except Exception as exc:  # noqa: BLE001 - a video without a poster is still the result
                log.warning("worker %s: the poster could not be copied: %s", hosted.worker_id, exc)
                poster = None
        return {**message, "video_path": home_video, "poster_path": poster}

    def _fetch(self, hosted: Hosted, remote: str, home: str) -> None:
        if self.shared_dir is not None:
            shutil.move(remote, home)  # a rename when the output directory is on the same mount
            return
        partial = Path(f"{home}.part")
        offset = 0
        with open(partial, "wb") as out:
            while chunk := self.ray.get(hosted.actor.read_chunk.remote(remote, offset), timeout=120):
                out.write(chunk)
                offset += len(chunk)
        os.replace(partial, home)

    def _end(self, hosted: Hosted, returncode: int, reason: str | None) -> None:
        with self._lock:
            if hosted.ended.is_set():
                return
            hosted.ended.set()
            self.hosted.pop(hosted.worker_id, None)
        self.link.send({"op": "exit", "worker": hosted.worker_id, "returncode": returncode, "reason": reason})

    # -- watchers ---------------------------------------------------------------

    def watch_nodes(self) -> None:
        """Sends the node table when it changes; a worker on a node that left ends."""
        while True:
            table = self.ray.nodes()
            self.head_answered = time.monotonic()
            alive_in_ray = {node["NodeID"] for node in table if node.get("Alive")}
            with self._lock:
                self._table = table
                self.lost_nodes = {node: at for node, at in self.lost_nodes.items()
                                   if node in alive_in_ray and time.monotonic() - at < LOST_NODE_HOLD_S}
            alive = {node["id"] for node in self._publish_nodes()}
            for hosted in list(self.hosted.values()):
                if hosted.node not in alive and hosted.actor is not None:
                    self._lose(hosted, "its node left the cluster")
            time.sleep(NODES_EVERY_S)

    def _publish_nodes(self) -> list[dict[str, Any]]:
        """The node table, less lost nodes, sent to the server if it changed."""
        with self._lock:
            nodes = describe_nodes(self._table, set(self.lost_nodes))
            if nodes != self._sent_nodes:
                self.link.send({"op": "nodes", "nodes": nodes})
                self._sent_nodes = nodes
        return nodes

    def ping(self) -> None:
        """Ends a worker whose actor has not answered for LOST_AFTER_S: its node
        is lost (a killed machine's actors cannot even say they died)."""
        while True:
            if time.monotonic() - self.head_answered > HEAD_LOST_AFTER_S:
                raise ConnectionError(f"the Ray head has not answered for {HEAD_LOST_AFTER_S:g} s")
            for hosted in list(self.hosted.values()):
                if hosted.actor is None or not hosted.scratch or hosted.killing:
                    continue
                try:
                    self.ray.get(hosted.actor.ping.remote(), timeout=PING_EVERY_S)
                    hosted.last_answer = time.monotonic()
                except Exception:  # noqa: BLE001
                    if time.monotonic() - hosted.last_answer > LOST_AFTER_S:
                        self._lose(hosted, f"no answer for {LOST_AFTER_S:g} s")
            time.sleep(PING_EVERY_S)

    def _lose(self, hosted: Hosted, why: str) -> None:
        """Ends a worker whose node is lost, and every other worker on that node."""
        if hosted.ended.is_set():
            return
        with self._lock:
            self.lost_nodes.setdefault(hosted.node, time.monotonic())
        self._publish_nodes()  # first: its job is requeued on the exit, and must not go back there
        self._end(hosted, -9, f"node {node_key(hosted.node)} lost ({why})")
        try:
            self.ray.kill(hosted.actor, no_restart=True)
        except Exception:  # noqa: BLE001
            pass
        for other in list(self.hosted.values()):
            if other.node == hosted.node:
                threading.Thread(target=self._lose, args=(other, why), daemon=True).start()


def _host_class() -> type:
    from .ray_host import WorkerHost

    return WorkerHost


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
    bridge = Bridge(link, args.shared_dir)
    _guard(bridge.watch_nodes, "node watcher").start()
    _guard(bridge.ping, "pinger").start()
    reader = link.sock.makefile("rb")
    for line in reader:  # the server closed its end: the bridge ends, and Ray ends its actors
        try:
            bridge.handle(protocol.decode(line))
        except (ValueError, KeyError) as exc:
            log.warning("bad command from the server: %s", exc)
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
