"""A job's webhook deliveries, each with every attempt and what came of it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from .jobs import _job_id, runtime_of
from .openapi import errors, returns

router = APIRouter(prefix="/api/jobs", tags=["webhooks"], responses=errors(401, 429))


class Attempt(BaseModel):
    number: int
    at: float
    duration_ms: float
    status_code: int | None = Field(description="the receiver's answer; null when none came")
    error: str | None = Field(description="why the attempt failed; null when it was delivered")


class Delivery(BaseModel):
    id: str = Field(description="job:event:run, sent as the webhook-id header (the same on every retry)")
    event: str = Field(description="started, completed, failed or stopped")
    url: str = Field(description="where it is posted, redacted: a password and query values read ***")
    status: str = Field(description="pending (being tried), delivered or failed (out of attempts)")
    attempts: list[Attempt]
    next_attempt_at: float | None
    created_at: float
    finished_at: float | None


class Deliveries(BaseModel):
    deliveries: list[Delivery]


@router.get("/{job_id}/webhooks", response_model=None, responses=returns(Deliveries, 404))
def job_webhooks(request: Request, job_id: str) -> dict[str, Any]:
    runtime = runtime_of(request)
    row = runtime.store.require(_job_id(job_id))
    return {"deliveries": runtime.webhooks.for_job(row.id)}
