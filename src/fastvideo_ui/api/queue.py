"""Queue control: pause and resume the whole queue, and move, re-prioritise,
hold or release one queued job."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from .deps import Jobs, job_id as _job_id
from .openapi import Job, errors, returns
from .schemas import MoveRequest, PriorityRequest

router = APIRouter(prefix="/api", tags=["queue"], responses=errors(401, 429))


@router.get("/queue")
def get_queue(jobs: Jobs) -> dict[str, Any]:
    """Whether the queue is paused, and the queued jobs in the order they will be considered."""
    return jobs.queue_view()


@router.post("/queue/pause")
async def pause_queue(jobs: Jobs) -> dict[str, Any]:
    """Start nothing new until resumed (running jobs finish); it stays paused across restarts."""
    jobs.pause_queue(True)
    return jobs.queue_view()


@router.post("/queue/resume")
async def resume_queue(jobs: Jobs) -> dict[str, Any]:
    jobs.pause_queue(False)
    return jobs.queue_view()


def _job(jobs: Jobs, row: Any) -> JSONResponse:
    return JSONResponse(jobs.to_json(row))


@router.post("/jobs/{job_id}/move", response_model=None, responses=returns(Job, 400, 404, 409, 413, 422))
async def move_job(jobs: Jobs, job_id: str, body: MoveRequest) -> JSONResponse:
    """Put a queued job at the top or bottom of the queue, or just before another queued job."""
    before = _job_id(body.before) if body.before is not None else None
    return _job(jobs, jobs.move(_job_id(job_id), to=body.to, before=before))


@router.post("/jobs/{job_id}/priority", response_model=None, responses=returns(Job, 400, 404, 409, 413, 422))
async def set_priority(jobs: Jobs, job_id: str, body: PriorityRequest) -> JSONResponse:
    """Higher runs first; a job that is not running yet takes it now, or when next queued."""
    return _job(jobs, jobs.set_priority(_job_id(job_id), body.priority))


@router.post("/jobs/{job_id}/hold", response_model=None, responses=returns(Job, 404, 409))
async def hold_job(jobs: Jobs, job_id: str) -> JSONResponse:
    """Keep a queued job in its place without starting it, until released."""
    return _job(jobs, jobs.hold(_job_id(job_id), True))


@router.post("/jobs/{job_id}/release", response_model=None, responses=returns(Job, 404, 409))
async def release_job(jobs: Jobs, job_id: str) -> JSONResponse:
    return _job(jobs, jobs.hold(_job_id(job_id), False))
