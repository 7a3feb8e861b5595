"""Workers started before any job (the supervisor's `prestart`): one imports
its backend's library while nobody waits, for the first job of its size to
take, and may read that library's model registry once no job waits. This
module holds what is pending for such workers: whether each is up yet (a job
that took one while it started waits for that), and the registry each owes."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ..workers.handle import WorkerHandle

log = logging.getLogger("fastvideo_ui.scheduler")

Registry = list[dict[str, Any]]
REGISTRY_TIMEOUT_S = 180  # then the server reads it in a process of its own, as without GPUs


class WarmStarts:
    def __init__(self) -> None:
        self._up: dict[int, asyncio.Future[None]] = {}  # by worker id, while it starts
        self._registry: dict[int, asyncio.Future[Registry | None]] = {}  # by worker id, while owed

    def starting(self, worker: WorkerHandle) -> bool:
        return worker.worker_id in self._up

    async def start(self, worker: WorkerHandle, workers: list[WorkerHandle], backend: str,
                    registry: bool) -> Registry | None:
        """`worker` started, listed in `workers` from the first (placement may give it a job at once: that
        job's run waits in `until_up`), and told to import `backend`; with `registry`, its answer."""
        loop = asyncio.get_running_loop()
        up: asyncio.Future[None] = loop.create_future()
        answer: asyncio.Future[Registry | None] = loop.create_future()
        self._up[worker.worker_id] = up
        self._registry[worker.worker_id] = answer
        workers.append(worker)
        try:
            try:
                await worker.start()
                # Before any run a job that took it meanwhile sends: that run waits for `up`.
                await worker.send({"type": "prepare", "backend": backend, "registry": registry})
                log.info("worker %s (pid %s) started before any job on %s: it imports %s now",
                         worker.worker_id, worker.pid, ",".join(worker.devices), backend)
            except (RuntimeError, OSError) as exc:
                log.warning("could not start a worker before any job: %s", exc)
                if worker in workers:
                    workers.remove(worker)
                return None
            except asyncio.CancelledError:  # the server is closing
                await asyncio.shield(worker.kill())
                raise
            finally:
                del self._up[worker.worker_id]
                up.set_result(None)
            if not registry:
                return None
            try:
                return await asyncio.wait_for(answer, REGISTRY_TIMEOUT_S)
            except asyncio.TimeoutError:
                log.warning("worker %s did not read its library's registry in %d s", worker.worker_id,
                            REGISTRY_TIMEOUT_S)
                return None
        finally:
            self._registry.pop(worker.worker_id, None)

    async def until_up(self, worker: WorkerHandle) -> None:
        """Once a worker started with the server is up, or could not start (then it is not alive)."""
        up = self._up.get(worker.worker_id)
        if up is not None:
            await asyncio.shield(up)

    def take(self, worker: WorkerHandle, message: dict[str, Any]) -> bool:
        """A worker's "prepared" or "registry" message; False: not one of these."""
        if message["type"] == "prepared":
            how = "imported" if message.get("ok") else "could not import"
            log.info("worker %s %s %s in %s s", worker.worker_id, how, message.get("backend"), message.get("seconds"))
            return True
        if message["type"] != "registry":
            return False
        if message.get("error"):
            log.warning("worker %s could not read its library's registry: %s", worker.worker_id, message["error"])
        models = message.get("models")
        self._answer(worker, models if isinstance(models, list) else None)
        return True

    def ended(self, worker: WorkerHandle) -> None:
        """The worker's process ended: it owes nothing now."""
        self._answer(worker, None)

    def _answer(self, worker: WorkerHandle, models: Registry | None) -> None:
        answer = self._registry.get(worker.worker_id)
        if answer is not None and not answer.done():
            answer.set_result(models)
