"""A job's webhook deliveries, each with every attempt and what came of it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from .deps import Deliveries as DeliveryStore, Jobs, job_id as _job_id
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
def job_webhooks(jobs: Jobs, deliveries: DeliveryStore, job_id: str) -> dict[str, Any]:
    row = jobs.require(_job_id(job_id))
    return {"deliveries": deliveries.for_job(row.id)}
