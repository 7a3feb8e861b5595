"""What the supervisor needs of a worker, wherever it runs: a local process
(process.WorkerProcess) or a Ray actor on a cluster node (ray_fleet.RayWorker)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from ..backends.base import ModelConfig


class WorkerHandle(Protocol):
    worker_id: int
    device_kind: str
    devices: tuple[str, ...]
    loaded: ModelConfig | None
    backend: str | None
    job_id: str | None
    ended_on_purpose: bool
    exit_reason: str | None  # why it ended, when that was not its own doing (a lost node)

    @property
    def pid(self) -> int | None: ...

    @property
    def alive(self) -> bool: ...

    def describe(self) -> dict[str, Any]: ...

    async def start(self) -> None: ...

    async def send(self, message: dict[str, Any]) -> None: ...

    def expect_job_log(self, job_id: str) -> None: ...

    async def wait_job_log_end(self, job_id: str, timeout: float = 3.0) -> None: ...

    async def kill(self) -> None: ...

    async def shutdown(self, timeout: float = 5.0) -> None: ...


MessageHandler = Callable[[WorkerHandle, dict[str, Any]], Awaitable[None]]
LogHandler = Callable[[WorkerHandle, str | None, list[str]], None]
ExitHandler = Callable[[WorkerHandle, int], Awaitable[None]]


async def take_message(worker: WorkerHandle, ready: asyncio.Future[bool], message: dict[str, Any],
                       on_message: MessageHandler) -> None:
    """A message from a worker, wherever it runs: "ready" ends its start,
    "loaded" says which model it now holds, and the supervisor gets the rest."""
    if message["type"] == "ready":
        if not ready.done():
            ready.set_result(True)
        return
    if message["type"] == "loaded":
        worker.loaded = ModelConfig.from_json(message["model"])
    await on_message(worker, message)
