"""The Ray actor that hosts one worker on a cluster node.

It starts the same worker process a local server starts
(`python -m fastvideo_ui.workers.main`), with the GPUs Ray gave the actor
(Ray sets CUDA_VISIBLE_DEVICES), and relays both ways: protocol messages and
log output go back in batches through `poll`, a long poll (plain calls work
over Ray Client too, where streaming generators do not); commands come in
through `send`. The worker writes its video into this actor's scratch
directory, and `read_chunk` brings it back through the object store: nothing
assumes the node can write to the server's disk.

If this actor dies, its end of the socketpair closes and the worker kills its
own process group (workers/main.py): no worker outlives its actor.
"""

from __future__ import annotations

import codecs
import os
import queue
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from ..config import child_environment
from . import protocol
from .process import kill_tree

CHUNK_BYTES = 8 << 20  # one object-store object per 8 MiB of video
BATCH_EVENTS = 256


class WorkerHost:
    def __init__(self, nonce: str) -> None:
        self.scratch = Path(tempfile.mkdtemp(prefix="fastvideo-ui-"))
        self._events: queue.Queue[dict[str, Any]] = queue.Queue()
        parent, child = socket.socketpair()
        env = child_environment()  # a node started from the server's shell may carry its secrets
        env["PYTHONUNBUFFERED"] = "1"
        env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
        env.setdefault("CUDA_VISIBLE_DEVICES", "")  # no GPU asked for: none seen
        env[protocol.NONCE_ENV] = nonce
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "fastvideo_ui.workers.main", "--fd", str(child.fileno())],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                pass_fds=(child.fileno(),), start_new_session=True, env=env,
            )
        finally:
            child.close()
        self._sock = parent
        self._send_lock = threading.Lock()
        self._readers = [threading.Thread(target=self._read_messages, daemon=True),
                         threading.Thread(target=self._read_log, daemon=True)]
        for reader in self._readers:
            reader.start()
        threading.Thread(target=self._wait_exit, daemon=True).start()

    def info(self) -> dict[str, Any]:
        import ray

        context = ray.get_runtime_context()
        return {"pid": self._proc.pid, "host_pid": os.getpid(), "node_id": context.get_node_id(),
                "gpus": [str(gpu) for gpu in ray.get_gpu_ids()], "scratch": str(self.scratch),
                "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES", "")}

    def ping(self) -> bool:
        return True

    def poll(self, wait_s: float = 1.0) -> list[dict[str, Any]]:
        """The events since the last poll, {"kind": "message"|"log"|"exit", ...};
        waits up to `wait_s` for the first. "exit" is the last event there is."""
        try:
            batch = [self._events.get(timeout=wait_s)]
        except queue.Empty:
            return []
        while len(batch) < BATCH_EVENTS and batch[-1]["kind"] != "exit":
            try:
                batch.append(self._events.get_nowait())
            except queue.Empty:
                break
        return batch

    def send(self, message: dict[str, Any]) -> None:
        with self._send_lock:
            self._sock.sendall(protocol.encode(message))

    def put_file(self, name: str, data: bytes) -> str:
        path = self.scratch / "inputs" / Path(name).name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        return str(path)

    def read_chunk(self, path: str, offset: int) -> bytes:
        """CHUNK_BYTES of a file the worker wrote, from `offset`; b"" at its end,
        which also removes it. Only files in the scratch directory are read."""
        target = self._scratch_file(path)
        with open(target, "rb") as source:
            source.seek(offset)
            chunk = source.read(CHUNK_BYTES)
        if not chunk:
            target.unlink()
        return chunk

    def _scratch_file(self, path: str) -> Path:
        target = Path(path).resolve()
        if not target.is_relative_to(self.scratch.resolve()):
            raise ValueError(f"{path} is not in this worker's scratch directory")
        return target

    def kill_tree(self) -> None:
        """SIGKILL the worker, its process group and every descendant."""
        kill_tree(self._proc.pid)
        self._proc.wait()

    def close(self) -> None:
        self.kill_tree()
        shutil.rmtree(self.scratch, ignore_errors=True)

    # -- relays ------------------------------------------------------------------

    def _read_messages(self) -> None:
        reader = self._sock.makefile("rb")
        for line in reader:
            try:
                self._events.put({"kind": "message", "message": protocol.decode(line)})
            except ValueError:
                continue

    def _read_log(self) -> None:
        assert self._proc.stdout is not None
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        while chunk := os.read(self._proc.stdout.fileno(), 1 << 16):
            self._events.put({"kind": "log", "text": decoder.decode(chunk)})
        tail = decoder.decode(b"", final=True)
        if tail:
            self._events.put({"kind": "log", "text": tail})

    def _wait_exit(self) -> None:
        returncode = self._proc.wait()
        kill_tree(self._proc.pid)  # whatever it left in its group
        for reader in self._readers:
            reader.join(5)
        self._events.put({"kind": "exit", "returncode": returncode})
