"""What the API can ask of the jobs layer. It never sees a process."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

from .catalogue import ModelSpec
from . import events
from .events import EventBus
from .logs import LogBook
from .models import JobRow
from .scheduler import Scheduler
from .serialize import job_json
from .states import Action, IllegalTransition, JobStatus, check_transition
from .store import JobNotFound, JobStore

# How long a stop request waits for a cooperative stop before answering.
STOP_ANSWER_WAIT_S = 2.0

_RESET_RUN_FIELDS: dict[str, Any] = {
    "started_at": None, "finished_at": None, "error": None, "output_path": None,
    "poster_path": None, "devices": None, "progress": 0.0, "progress_msg": "",
    "step": None, "total_steps": None, "eta_seconds": None,
}


class QueueFull(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"The queue is full: {limit} jobs are already waiting; start this one when some have run")
        self.limit = limit


class JobService:
    def __init__(self, store: JobStore, logs: LogBook, bus: EventBus, scheduler: Scheduler,
                 max_queued: int = 1000) -> None:
        self.store = store
        self.logs = logs
        self.bus = bus
        self.scheduler = scheduler
        self.max_queued = max_queued

    def check_queue_room(self) -> None:
        """Raise QueueFull when one more queued job would pass the cap."""
        if len(self.store.queue_order()) >= self.max_queued:
            raise QueueFull(self.max_queued)

    def to_json(self, row: JobRow, positions: dict[str, int] | None = None) -> dict[str, Any]:
        if positions is None and row.status == JobStatus.QUEUED.value:
            positions = self.scheduler.queue_positions()
        return job_json(row, (positions or {}).get(row.id))

    def create(self, spec: ModelSpec, params: dict[str, Any], start: bool) -> JobRow:
        if start:
            self.check_queue_room()  # before the row exists, so a refused create leaves nothing behind
        job_id = str(uuid.uuid4())
        now = time.time()
        row = self.store.create(
            id=job_id, model_id=spec.id, status=JobStatus.PENDING.value, created_at=now,
            log_file_path=str(self.logs.path(job_id)), phase="", progress=0.0, progress_msg="",
            attempts=0, **params,
        )
        self.logs.server_line(job_id, f"created: model {spec.id}, {params['width']}x{params['height']}, "
                                      f"{params['num_frames']} frames, {params['num_inference_steps']} steps, "
                                      f"seed {params['seed']}")
        self.scheduler.publish_job(row, events.CREATED)
        return self.start(job_id) if start else row

    def start(self, job_id: str) -> JobRow:
        status = JobStatus(self.store.require(job_id).status)
        if self.scheduler.is_deleting(job_id):
            raise IllegalTransition(job_id, Action.START, status)
        check_transition(job_id, Action.START, status)  # a refused start is a 409, not a 429
        self.check_queue_room()
        row = self.store.transition(job_id, Action.START, queued_at=time.time(), phase="queued",
                                    **_RESET_RUN_FIELDS)
        position = self.scheduler.queue_positions().get(job_id)
        again = f" (run {row.attempts + 1})" if row.attempts else ""
        self.logs.server_line(job_id, f"queued{again}, position {position}")
        self.scheduler.publish_job(row)
        self.scheduler.kick()
        return row

    async def stop(self, job_id: str) -> JobRow:
        row = self.store.require(job_id)
        status = JobStatus(row.status)
        if status is JobStatus.QUEUED and self.scheduler.run_of(job_id) is None:
            row = self.store.transition(job_id, Action.STOP, finished_at=time.time(), phase="stopped")
            self.logs.server_line(job_id, "stopped: taken out of the queue")
            self.scheduler.publish_job(row)
            self.scheduler.publish_queue()
            return row
        run = self.scheduler.run_of(job_id)
        if run is None:
            check_transition(job_id, Action.STOP, status)  # raises for every ended state
            raise IllegalTransition(job_id, Action.STOP, status)
        await self.scheduler.stop_running(run)
        try:
            await asyncio.wait_for(asyncio.shield(run.done.wait()), STOP_ANSWER_WAIT_S)
        except asyncio.TimeoutError:
            pass  # still stopping; the job's status will say when it has
        return self.store.require(job_id)

    async def delete(self, job_id: str) -> None:
        """Stop the job if it is active, then remove its row, video, poster and log."""
        row = self.store.require(job_id)
        if not self.scheduler.begin_delete(job_id):
            raise JobNotFound(job_id)
        try:
            if JobStatus(row.status) in (JobStatus.QUEUED, JobStatus.RUNNING):
                try:
                    await self.stop(job_id)
                except IllegalTransition:
                    pass  # it ended meanwhile
                run = self.scheduler.run_of(job_id)
                if run is not None:
                    await run.done.wait()  # bounded by the stop's grace period and a kill
            row = self.store.require(job_id)
            self.store.delete(job_id)
            for path in (row.output_path, row.poster_path):
                if path:
                    Path(path).unlink(missing_ok=True)
            self.logs.remove(job_id)
        finally:
            self.scheduler.end_delete(job_id)
        self.bus.publish(events.DELETED, {"id": job_id})
        self.scheduler.publish_queue()
