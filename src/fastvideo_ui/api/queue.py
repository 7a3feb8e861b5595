"""Queue control: pause and resume the whole queue, and move, re-prioritise,
hold or release one queued job."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from .jobs import _job_id, runtime_of
from .openapi import Job, errors, returns
from .schemas import MoveRequest, PriorityRequest

router = APIRouter(prefix="/api", tags=["queue"], responses=errors(401, 429))


def queue_state(request: Request) -> dict[str, Any]:
    runtime = runtime_of(request)
    positions = runtime.scheduler.queue_positions()
    return {
        "paused": runtime.scheduler.paused,
        "jobs": [{"id": job.id, "model_id": job.model_id, "priority": job.priority, "held": bool(job.held),
                  "queue_position": positions.get(job.id)} for job in runtime.store.queue_order()],
    }


@router.get("/queue")
def get_queue(request: Request) -> dict[str, Any]:
    """Whether the queue is paused, and the queued jobs in the order they will be considered."""
    return queue_state(request)


@router.post("/queue/pause")
async def pause_queue(request: Request) -> dict[str, Any]:
    """Start nothing new until resumed (running jobs finish); it stays paused across restarts."""
    runtime_of(request).jobs.pause_queue(True)
    return queue_state(request)


@router.post("/queue/resume")
async def resume_queue(request: Request) -> dict[str, Any]:
    runtime_of(request).jobs.pause_queue(False)
    return queue_state(request)


def _job(request: Request, row: Any) -> JSONResponse:
    return JSONResponse(runtime_of(request).jobs.to_json(row))


@router.post("/jobs/{job_id}/move", response_model=None, responses=returns(Job, 400, 404, 409, 413, 422))
async def move_job(request: Request, job_id: str, body: MoveRequest) -> JSONResponse:
    """Put a queued job at the top or bottom of the queue, or just before another queued job."""
    before = _job_id(body.before) if body.before is not None else None
    return _job(request, runtime_of(request).jobs.move(_job_id(job_id), to=body.to, before=before))


@router.post("/jobs/{job_id}/priority", response_model=None, responses=returns(Job, 400, 404, 409, 413, 422))
async def set_priority(request: Request, job_id: str, body: PriorityRequest) -> JSONResponse:
    """Higher runs first; a job that is not running yet takes it now, or when next queued."""
    return _job(request, runtime_of(request).jobs.set_priority(_job_id(job_id), body.priority))


@router.post("/jobs/{job_id}/hold", response_model=None, responses=returns(Job, 404, 409))
async def hold_job(request: Request, job_id: str) -> JSONResponse:
    """Keep a queued job in its place without starting it, until released."""
    return _job(request, runtime_of(request).jobs.hold(_job_id(job_id), True))


@router.post("/jobs/{job_id}/release", response_model=None, responses=returns(Job, 404, 409))
async def release_job(request: Request, job_id: str) -> JSONResponse:
    return _job(request, runtime_of(request).jobs.hold(_job_id(job_id), False))
