"""Workers on a Ray cluster, seen from the server (`--ray ADDRESS`).

`RayFleet` runs the bridge process (ray_bridge.py, the only Ray driver), keeps
the inventory's GPUs in step with the cluster's nodes, and says in /api/health
whether the cluster is reachable. When the bridge ends (the head went away),
the fleet's workers end with it, the cluster's GPUs leave the inventory (queued
jobs wait), and a new bridge is tried with a growing pause until one connects.

`RayWorker` is a worker on one node, with the same face as a local
`WorkerProcess`: the supervisor runs jobs on either the same way.
"""

from __future__ import annotations

import asyncio
import codecs
import logging
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..backends.base import ModelConfig
from ..config import child_environment
from . import protocol
from .devices import Inventory
from .log_router import LogRouter
from .handle import ExitHandler, LogHandler, MessageHandler, take_message

log = logging.getLogger("fastvideo_ui.ray")

READY_TIMEOUT_S = 330.0  # the bridge gives an actor 300 s to get its GPUs
RETRY_FIRST_S = 1.0
RETRY_MAX_S = 30.0


def gpu_label(node_key: str, gpu: str) -> str:
    return f"{node_key}:{gpu}"


class RayWorker:
    """A worker process inside a Ray actor on one node."""

    def __init__(self, fleet: RayFleet, worker_id: int, devices: tuple[str, ...], on_message: MessageHandler,
                 on_log: LogHandler, on_exit: ExitHandler) -> None:
        self.fleet = fleet
        self.worker_id = worker_id
        self.device_kind = "gpu"
        self.devices = devices  # those Ray gave it, once it has started
        self.node = fleet.inventory.nodes.get(devices[0], "") if devices else ""
        self.loaded: ModelConfig | None = None
        self.backend: str | None = None
        self.job_id: str | None = None
        self.returncode: int | None = None
        self.exit_reason: str | None = None  # why it ended, when that was not its own doing
        self.ended_on_purpose = False
        self.remote_pid: int | None = None
        self._on_message = on_message
        self._on_exit = on_exit
        self._nonce = protocol.new_nonce()
        self._router = LogRouter(self._nonce, lambda job_id, lines: on_log(self, job_id, lines),
                                 f"Ray worker {worker_id}")
        self._ready = asyncio.get_running_loop().create_future()
        self._exited = asyncio.Event()

    @property
    def pid(self) -> int | None:
        return self.remote_pid  # a process id on its node, not here

    @property
    def alive(self) -> bool:
        return self.remote_pid is not None and self.returncode is None

    def describe(self) -> dict[str, Any]:
        return {"id": self.worker_id, "pid": self.pid, "device_kind": self.device_kind,
                "devices": list(self.devices), "node": self.node,
                "model": self.loaded.as_json() if self.loaded else None, "job_id": self.job_id}

    async def start(self) -> None:
        node_id = self.fleet.node_ids.get(self.node)
        if node_id is None or not self.fleet.connected:
            # Ended like any other worker, so the supervisor lets go of it; the job is requeued.
            await self.ended(-1, f"node {self.node} lost (it left the cluster before its worker started)")
            raise RuntimeError(self.exit_reason)
        self.fleet.workers[self.worker_id] = self
        self.fleet.command({"op": "start", "worker": self.worker_id, "node": node_id, "gpus": len(self.devices),
                            "nonce": self._nonce})
        try:
            await asyncio.wait_for(asyncio.shield(self._ready), READY_TIMEOUT_S)
        except asyncio.TimeoutError:
            await self.kill()
            raise RuntimeError(f"the Ray worker did not start in {READY_TIMEOUT_S:g} s") from None

    async def send(self, message: dict[str, Any]) -> None:
        if not self.alive:
            raise RuntimeError("worker is not running")
        self.fleet.command({"op": "send", "worker": self.worker_id, "message": message})

    def expect_job_log(self, job_id: str) -> None:
        self._router.expect(job_id)

    async def wait_job_log_end(self, job_id: str, timeout: float = 3.0) -> None:
        await self._router.wait_end(job_id, timeout)

    async def kill(self) -> None:
        self.ended_on_purpose = True
        if self.returncode is None and self.fleet.connected:
            self.fleet.command({"op": "kill", "worker": self.worker_id})
            try:
                await asyncio.wait_for(self._exited.wait(), 15.0)
                return
            except asyncio.TimeoutError:
                pass
        await self.ended(-9, "the Ray bridge did not confirm the kill" if self.returncode is None else None)

    async def shutdown(self, timeout: float = 5.0) -> None:
        self.ended_on_purpose = True
        if self.alive:
            try:
                await self.send({"type": "shutdown"})
                await asyncio.wait_for(self._exited.wait(), timeout)
            except (RuntimeError, asyncio.TimeoutError):
                pass
        await self.kill()

    # -- from the bridge ----------------------------------------------------------

    def started(self, pid: int, gpus: list[str]) -> None:
        self.remote_pid = pid
        self.devices = tuple(gpu_label(self.node, gpu) for gpu in gpus) or self.devices

    async def message(self, message: dict[str, Any]) -> None:
        await take_message(self, self._ready, message, self._on_message)

    def log(self, text: str) -> None:
        self._router.feed(text)

    async def ended(self, returncode: int, reason: str | None) -> None:
        if self.returncode is not None:
            return
        self.returncode = returncode
        self.exit_reason = reason
        self._router.close()
        self.fleet.workers.pop(self.worker_id, None)
        if not self._ready.done():
            self._ready.set_exception(RuntimeError(reason or f"the Ray worker ended ({returncode})"))
            self._ready.exception()  # retrieved: start() may already have given up on it
        self._exited.set()
        await self._on_exit(self, returncode)


class RayFleet:
    def __init__(self, address: str, inventory: Inventory, on_change: Callable[[dict[str, Any]], None],
                 shared_dir: Path | None = None) -> None:
        self.address = address
        self.shared_dir = shared_dir
        self.inventory = inventory
        self.on_change = on_change  # the GPUs changed (called with the new status): the scheduler looks again
        self.workers: dict[int, RayWorker] = {}
        self.node_ids: dict[str, str] = {}  # node key -> Ray's node id
        self.nodes: list[dict[str, Any]] = []
        self.connected = False
        self.error = f"connecting to Ray at {address}"
        self.since = time.time()
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._set_nodes([])

    def status(self) -> dict[str, Any]:
        return {"address": self.address, "connected": self.connected, "error": None if self.connected else self.error,
                "since": self.since, "nodes": [{k: node[k] for k in ("key", "name", "gpus")} for node in self.nodes]}

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._keep_bridge())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    def command(self, command: dict[str, Any]) -> None:
        if self._writer is None:
            raise RuntimeError(f"not connected to Ray at {self.address}: {self.error}")
        self._writer.write(protocol.encode({"type": "bridge", **command}))

    def worker(self, worker_id: int, devices: tuple[str, ...], on_message: MessageHandler, on_log: LogHandler,
               on_exit: ExitHandler) -> RayWorker:
        return RayWorker(self, worker_id, devices, on_message, on_log, on_exit)

    # -- the bridge -----------------------------------------------------------------

    async def _keep_bridge(self) -> None:
        pause = RETRY_FIRST_S
        while True:
            began = time.monotonic()
            reason = await self._run_bridge()
            await self._lost(reason)
            if time.monotonic() - began > 60:
                pause = RETRY_FIRST_S  # it had been up a while: try again soon
            await asyncio.sleep(pause)
            pause = min(pause * 2, RETRY_MAX_S)

    async def _run_bridge(self) -> str:
        """Runs one bridge until it ends; returns why it ended."""
        parent, child = socket.socketpair()
        env = child_environment()
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "fastvideo_ui.workers.ray_bridge", "--address", self.address,
                "--fd", str(child.fileno()), *(["--shared-dir", str(self.shared_dir)] if self.shared_dir else []),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
                pass_fds=(child.fileno(),), start_new_session=True, env=env)
        except OSError as exc:
            child.close()
            parent.close()
            return f"could not start the Ray bridge: {exc}"
        child.close()
        reader, self._writer = await asyncio.open_connection(sock=parent)
        said: list[str] = []
        stderr_task = asyncio.create_task(self._read_stderr(proc, said))
        try:
            while line := await reader.readline():
                try:
                    await self._handle(protocol.decode(line))
                except (ValueError, KeyError) as exc:
                    log.warning("Ray bridge sent something unexpected: %s", exc)
            await proc.wait()
        except asyncio.CancelledError:
            proc.kill()
            await proc.wait()
            raise
        finally:
            self._writer.close()
            self._writer = None
        await asyncio.wait_for(stderr_task, 5)
        return said[-1] if said else f"the Ray bridge exited with code {proc.returncode}"

    async def _read_stderr(self, proc: asyncio.subprocess.Process, said: list[str]) -> None:
        assert proc.stderr is not None
        while line := await proc.stderr.readline():
            text = line.decode("utf-8", errors="replace").rstrip()
            if text:
                log.info("ray: %s", text[:2000])
                if text.startswith("ray bridge:"):
                    said.append(text.removeprefix("ray bridge:").strip())
                elif not self.connected and "Failed to connect" in text:
                    # Ray's own words while it retries, e.g. "Failed to connect to GCS at address ... within 5 seconds."
                    self.error = f"connecting to Ray at {self.address}: {text.rsplit('] ', 1)[-1]}"

    async def _handle(self, message: dict[str, Any]) -> None:
        op = message["op"]
        if op == "nodes":
            if not self.connected:
                log.info("connected to Ray at %s", self.address)
                self.connected, self.error, self.since = True, "", time.time()
            self._set_nodes(message["nodes"])
            return
        worker = self.workers.get(int(message.get("worker", -1)))
        if worker is None:
            return
        if op == "started":
            worker.started(int(message["pid"]), [str(gpu) for gpu in message["gpus"]])
        elif op == "message":
            await worker.message(message["message"])
        elif op == "log":
            worker.log(str(message["text"]))
        elif op == "exit":
            await worker.ended(int(message["returncode"]), message.get("reason"))

    async def _lost(self, reason: str) -> None:
        if self.connected:
            log.warning("lost Ray at %s: %s", self.address, reason)
        self.connected, self.error, self.since = False, reason, time.time()
        for worker in list(self.workers.values()):
            await worker.ended(-9, f"lost the Ray cluster ({reason})")
        self._set_nodes([])

    def _set_nodes(self, nodes: list[dict[str, Any]]) -> None:
        self.nodes = nodes
        self.node_ids = {node["key"]: node["id"] for node in nodes}
        gpus = [gpu_label(node["key"], str(index)) for node in nodes for index in range(node["gpus"])]
        inventory = self.inventory
        inventory.gpus = tuple(gpus)
        inventory.gpu_source = "ray"
        inventory.nodes = {gpu: gpu.rsplit(":", 1)[0] for gpu in gpus}
        inventory.node_names = {node["key"]: node["name"] for node in nodes}
        if gpus:
            inventory.gpu_reason = ""
        elif self.connected:
            inventory.gpu_reason = f"no node of the Ray cluster at {self.address} has a GPU"
        else:
            inventory.gpu_reason = f"Ray at {self.address} is out of reach: {self.error}"
        self.on_change(self.status())
