"""Parameter sweeps: the cartesian product of some fields' values over one
create body, made as jobs queued together (jobs/sweeps.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError

from ..jobs.sweep_plan import BodyErrors
from ..jobs.sweep_store import SweepNotFound
from ..jobs.sweeps import SUMMARY_CHARS
from ..spec.axes import ALIASES, MAX_SWEEP_JOBS
from .deps import Jobs, uuid_id
from .errors import validation_detail
from .paging import link_next
from .openapi import PAGE_HEADERS, DeletedBody, Job, errors, returns
from .schemas import CreateJobRequest, field_errors
from .strict import StrictBody

router = APIRouter(prefix="/api/sweeps", tags=["sweeps"], responses=errors(401))
PAGE, MAX_PAGE = 50, 200  # sweeps a page of GET /api/sweeps holds: by default, at most
_PAGE_HEADERS = {**PAGE_HEADERS, "X-Total-Count": {"description": "every sweep, on every page", "required": True,
                                                   "schema": {"type": "integer"}}}

_AXES_HELP = (f"each axis's values, in order: a job field (`guidance_scale`, `seed`, `prompt`, `model_id`, ...), "
              f"`loras.N.strength` (the N-th LoRA of the base, from 0), or "
              f"{', '.join(f'`{alias}` (`{meaning}`)' for alias, meaning in ALIASES.items())}. The first axis is "
              f"outermost; at most {MAX_SWEEP_JOBS} jobs in all")


class CreateSweepRequest(StrictBody):
    base: dict[str, Any] = Field(description="a create body as POST /api/jobs takes, without `start`; a field an "
                                             "axis varies may be left out (given, the axis's values replace it, "
                                             "and the sweep's base is kept without it)")
    axes: dict[str, list[Any]] = Field(description=_AXES_HELP, examples=[{"guidance_scale": [3, 5, 7],
                                                                          "seed": [1, 2]}])
    start: bool = Field(default=False, description="queue its jobs now (else they wait, pending)")


class SweepJob(BaseModel):
    id: str = Field(description="the job's id (kept once the job is deleted)")
    coords: dict[str, Any] = Field(description="its value on each axis")
    status: str = Field(description="the job's status, or `deleted` once it is")
    job: Job | None = Field(description="the job as GET /api/jobs/{id} returns it; null once deleted")


class SweepHead(BaseModel):
    id: str
    created_at: float = Field(description="Unix time")
    base: dict[str, Any] = Field(description="the create body the axes vary, as given, less what an axis sets")
    axes: dict[str, list[Any]] = Field(description="each axis's values in order, as its jobs store them")


class Sweep(SweepHead):
    jobs: list[SweepJob] = Field(description="in product order: the first axis outermost")


class SweepSummary(BaseModel):
    """A sweep as the list shows it: GET /api/sweeps/{id} has the whole of it."""

    id: str
    created_at: float = Field(description="Unix time")
    base: dict[str, Any] = Field(description=f"only the base's `model_id` and `prompt` (a text cut to "
                                             f"{SUMMARY_CHARS} characters)")
    axes: dict[str, list[Any]] = Field(description=f"each axis's values in order, a text cut to {SUMMARY_CHARS} "
                                                   f"characters (any other value that long as its JSON, cut)")
    total: int = Field(description="its jobs, deleted ones included")
    counts: dict[str, int] = Field(description="its jobs by status (`deleted` among them)")


def _sweep_id(text: str) -> str:
    return uuid_id(text, SweepNotFound)


def check_create_body(body: Mapping[str, Any]) -> dict[str, Any]:
    """A combination's create body checked by the request model POST /api/jobs uses (sweep_plan.BodyCheck)."""
    try:
        return CreateJobRequest.model_validate(body).model_dump(exclude={"start"})
    except ValidationError as exc:
        # Below "body", as a route's own 422 reads (validation_detail names a misspelt field's likely meaning).
        found = [{**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)]
        detail = validation_detail(found, CreateJobRequest)
        raise BodyErrors([(tuple(error["loc"][1:]), str(error["msg"])) for error in detail]) from None


@router.post("", status_code=201, response_model=None, responses=returns(Sweep, 400, 413, 422, 429, status=201))
async def create_sweep(jobs: Jobs, body: CreateSweepRequest) -> JSONResponse:
    """Every combination is checked as a create body before any job is made; with `start`, the queue must
    have room for all of them (else 429, and nothing is made)."""
    sweep = await jobs.sweeps.create(body.base, body.axes, body.start, check_create_body)
    return JSONResponse(sweep, status_code=201)


@router.get("", response_model=None, responses=returns(list[SweepSummary], 422, headers=_PAGE_HEADERS))
def list_sweeps(
    request: Request,
    jobs: Jobs,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="page size")] = PAGE,
    before: Annotated[str | None, Query(description="continue after this sweep id (the Link header gives it)")] = None,
) -> JSONResponse:
    """Sweeps newest first, a page at a time, each light: GET /api/sweeps/{id} has the whole of one."""
    try:
        page, more = jobs.sweeps.summaries(limit, None if before is None else _sweep_id(before))
    except SweepNotFound:
        raise field_errors([("before", "names no sweep")]) from None
    headers = {"X-Total-Count": str(jobs.sweeps.count())}
    if more:
        link_next(request, headers, page[-1]["id"])
    return JSONResponse(page, headers=headers)


@router.get("/{sweep_id}", response_model=None, responses=returns(Sweep, 404))
def get_sweep(jobs: Jobs, sweep_id: str) -> JSONResponse:
    return JSONResponse(jobs.sweeps.view(_sweep_id(sweep_id)))


@router.post("/{sweep_id}/start", response_model=None, responses=returns(Sweep, 404, 429))
async def start_sweep(jobs: Jobs, sweep_id: str) -> JSONResponse:
    """Its pending, stopped and failed jobs are queued, in product order; all of them, or none when the
    queue has no room for them all (429)."""
    return JSONResponse(jobs.sweeps.start(_sweep_id(sweep_id)))


@router.post("/{sweep_id}/stop", response_model=None, responses=returns(Sweep, 404))
async def stop_sweep(jobs: Jobs, sweep_id: str) -> JSONResponse:
    """Its queued jobs are taken out of the queue, then its running ones stopped."""
    return JSONResponse(await jobs.sweeps.stop(_sweep_id(sweep_id)))


@router.delete("/{sweep_id}", response_model=None, responses=returns(DeletedBody, 404))
async def delete_sweep(jobs: Jobs, sweep_id: str) -> dict[str, str]:
    """Its jobs are stopped and deleted (videos, posters and logs with them), then the sweep."""
    sweep_id = _sweep_id(sweep_id)
    deleted = await jobs.sweeps.delete(sweep_id)
    return {"detail": f"Sweep {sweep_id} deleted, with its {deleted} job{'s' if deleted != 1 else ''}"}
