"""The server's handle on one worker process."""

from __future__ import annotations

import asyncio
import codecs
import logging
import os
import signal
import socket
import sys
from typing import Any

import psutil

from ..backends.base import ModelConfig
from ..config import child_environment
from ..oserrors import describe_exit
from . import protocol
from .handle import ExitHandler, LogHandler, MessageHandler, take_message
from .log_router import LogRouter

log = logging.getLogger("fastvideo_ui.workers")

READY_TIMEOUT_S = 60.0
# The longest message line a worker may send. asyncio's default, 64 KiB, is near FastVideo's registry
# (47 KB for 0.2.1's 67 models, sent by the worker started with the server): past it readline raises,
# and the worker's messages would no longer be read at all.
MESSAGE_LIMIT = 16 * 1024 * 1024


async def open_channel(sock: socket.socket) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """The server's end of a worker's socketpair, as streams."""
    return await asyncio.open_connection(sock=sock, limit=MESSAGE_LIMIT)



def kill_tree(pid: int) -> None:
    """SIGKILL a worker, its process group and every descendant.

    Waits for the descendants to be gone; the worker itself is the server's
    child and asyncio reaps it (waiting here would steal its exit status).
    """
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        procs = []
    try:
        os.killpg(pid, signal.SIGKILL)  # the worker leads its own session
    except (ProcessLookupError, PermissionError):
        pass
    for proc in procs:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs([proc for proc in procs if proc.pid != pid], timeout=10)


class WorkerProcess:
    def __init__(
        self,
        worker_id: int,
        device_kind: str,
        devices: tuple[str, ...],
        cuda_visible_devices: str,
        on_message: MessageHandler,
        on_log: LogHandler,
        on_exit: ExitHandler,
    ) -> None:
        self.worker_id = worker_id
        self.device_kind = device_kind
        self.devices = devices
        self.cuda_visible_devices = cuda_visible_devices  # the devices as CUDA numbers them
        self.loaded: ModelConfig | None = None
        self.backend: str | None = None
        self.job_id: str | None = None
        self.returncode: int | None = None
        self.ended_on_purpose = False  # we stopped or shut it down: its SIGKILL is ours
        self.exit_reason: str | None = None  # a local process's exit status says it all
        self._on_message = on_message
        self._on_exit = on_exit
        self._proc: asyncio.subprocess.Process | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._ready = asyncio.get_running_loop().create_future()
        self._nonce = protocol.new_nonce()
        self._router = LogRouter(self._nonce, lambda job_id, lines: on_log(self, job_id, lines),
                                 f"worker {worker_id}")
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def alive(self) -> bool:
        return self._proc is not None and self.returncode is None

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.worker_id,
            "pid": self.pid,
            "device_kind": self.device_kind,
            "devices": list(self.devices),
            "model": self.loaded.as_json() if self.loaded else None,
            "job_id": self.job_id,
        }

    async def start(self) -> None:
        parent_sock, child_sock = socket.socketpair()
        # Workers run model code that may log its environment: the server's secrets stay in the server.
        env = child_environment()
        env["PYTHONUNBUFFERED"] = "1"
        # A CPU worker sees no GPU at all; a GPU worker sees only its own.
        env["CUDA_VISIBLE_DEVICES"] = self.cuda_visible_devices if self.device_kind == "gpu" else ""
        env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"  # CUDA's numbering = NVML's (see devices.nvml_indices)
        env["FASTVIDEO_UI_WORKER_DEVICES"] = ",".join(self.devices)
        env[protocol.NONCE_ENV] = self._nonce
        try:
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "fastvideo_ui.workers.main", "--fd", str(child_sock.fileno()),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                pass_fds=(child_sock.fileno(),),
                start_new_session=True,
                env=env,
            )
        finally:
            child_sock.close()
        if self.ended_on_purpose:  # shut down while it was being spawned: it must not live on unlisted
            parent_sock.close()
            await self.kill()
            raise RuntimeError("shut down as it started")
        reader, self._writer = await open_channel(parent_sock)
        self._tasks = [
            asyncio.create_task(self._read_messages(reader)),
            asyncio.create_task(self._watch()),
        ]
        try:
            await asyncio.wait_for(asyncio.shield(self._ready), READY_TIMEOUT_S)
        except (asyncio.TimeoutError, RuntimeError) as exc:
            await self.kill()
            raise RuntimeError(f"worker did not start: {exc or 'timed out'}") from exc

    async def send(self, message: dict[str, Any]) -> None:
        if self._writer is None or not self.alive:
            raise RuntimeError("worker is not running")
        self._writer.write(protocol.encode(message))
        await self._writer.drain()

    def expect_job_log(self, job_id: str) -> None:
        self._router.expect(job_id)

    async def wait_job_log_end(self, job_id: str, timeout: float = 3.0) -> None:
        """Wait until the job's END marker (or the pipe's end) has been read."""
        await self._router.wait_end(job_id, timeout)

    async def kill(self) -> None:
        if self._proc is None:
            return
        self.ended_on_purpose = True
        await asyncio.to_thread(kill_tree, self._proc.pid)
        await self._proc.wait()
        # Its pipes read to the end: only then does asyncio close the process's
        # transport, which must happen before the loop does (at shutdown).
        current = asyncio.current_task()
        pending = [task for task in self._tasks if task is not current and not task.done()]
        if pending:
            await asyncio.wait(pending, timeout=5)

    async def shutdown(self, timeout: float = 5.0) -> None:
        """Ask the worker to unload and exit; kill it if it does not."""
        self.ended_on_purpose = True
        if self.alive:
            try:
                await self.send({"type": "shutdown"})
                assert self._proc is not None
                await asyncio.wait_for(self._proc.wait(), timeout)
            except (RuntimeError, OSError, asyncio.TimeoutError):
                pass
        await self.kill()

    async def _read_messages(self, reader: asyncio.StreamReader) -> None:
        while True:
            try:
                line = await reader.readline()
            except (ConnectionError, OSError):
                line = b""
            if not line:
                return
            try:
                message = protocol.decode(line)
            except ValueError:
                log.warning("worker %s sent garbage: %r", self.worker_id, line[:200])
                continue
            await take_message(self, self._ready, message, self._on_message)

    async def _read_log(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        stream = self._proc.stdout
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        while True:
            chunk = await stream.read(1 << 16)
            if not chunk:
                break
            self._router.feed(decoder.decode(chunk))
        self._router.feed(decoder.decode(b"", final=True))
        self._router.close()

    async def _watch(self) -> None:
        assert self._proc is not None
        log_task = asyncio.create_task(self._read_log())
        returncode = await self._proc.wait()
        # Whatever the worker left behind in its group dies with it.
        await asyncio.to_thread(kill_tree, self._proc.pid)
        try:
            await asyncio.wait_for(log_task, 5.0)
        except asyncio.TimeoutError:
            log_task.cancel()
        self.returncode = returncode
        if not self._ready.done():
            self._ready.set_exception(RuntimeError(describe_exit(returncode)))
        if self._writer is not None:
            self._writer.close()
        await self._on_exit(self, returncode)
