"""The seed's job endpoints, and the additions that keep it fast with many jobs."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse

from ..database.tables import JobRow
from ..jobs.service import JobService
from ..jobs.serialize import COPIED, RECORD_COLUMNS, record_json
from ..jobs.states import JobStatus
from ..jobs.store import JobFilter
from .deps import Jobs, job_id as _job_id
from .paging import link_next
from .openapi import PAGE_HEADERS, DeletedBody, Job, LogPage, errors, returns
from .schemas import CreateJobRequest, field_errors
from .streaming import CHUNK_TEXT_CHARS, JOB_CHUNK, LOG_CHUNK, encode, json_array, json_object_with_lines

router = APIRouter(prefix="/api/jobs", tags=["jobs"], responses=errors(401, 429))

_ID, _STATUS, _CREATED_AT = (COPIED.index(name) for name in ("id", "status", "created_at"))


def _statuses(raw: list[str]) -> list[JobStatus]:
    names = [part.strip() for item in raw for part in item.split(",") if part.strip()]
    try:
        return [JobStatus(name) for name in names]
    except ValueError:
        valid = ", ".join(s.value for s in JobStatus)
        raise field_errors([("status", f"must be one of: {valid}")]) from None


@router.get("", response_model=None, responses=returns(list[Job], 422, headers=PAGE_HEADERS))
def list_jobs(
    request: Request,
    jobs: Jobs,
    limit: Annotated[int | None, Query(ge=1, le=1000, description="page size; all jobs when omitted")] = None,
    before: Annotated[str | None, Query(description="continue after this job id (the Link header gives it)")] = None,
    status: Annotated[list[str], Query(description="only these statuses (repeat or comma-separate)")] = [],  # noqa: B006
    q: Annotated[str | None, Query(max_length=500, description="only prompts containing this text (any case)")] = None,
    sweep: Annotated[str | None, Query(max_length=36, description="only the jobs of this sweep")] = None,
    starred: Annotated[bool | None, Query(description="only starred jobs (true) or unstarred ones (false)")] = None,
) -> Response:
    after = None
    if before:
        cursor = jobs.get(before)
        if cursor is None:
            raise field_errors([("before", "names no job")])
        after = (cursor.created_at, cursor.id)
    where = JobFilter(tuple(_statuses(status)), q, sweep, starred)
    headers = {"X-Total-Count": str(jobs.count(where))}
    if limit is None:  # everything, as the original API answers: a chunk at a time
        pages = (page for page, _ in _chunks(jobs, where, after))
        return StreamingResponse(json_array(pages), media_type="application/json", headers=headers)
    first, whole = next(_chunks(jobs, where, after, limit))
    if whole:  # one chunk, as most pages are: nothing to stream
        if len(first) == limit:
            link_next(request, headers, first[-1]["id"])
        return Response(encode(first), media_type="application/json", headers=headers)
    # Past one chunk: the page's last key first, for the Link header that goes
    # before its jobs (and as the end of the chunks that follow the first).
    top = (first[-1]["created_at"], first[-1]["id"])
    keys = jobs.list_records(("created_at", "id"), limit, after, where)
    if len(keys) == limit:
        link_next(request, headers, keys[-1][1])
    rest = (page for page, _ in _chunks(jobs, where, top, limit - len(first), oldest=keys[-1]))
    return StreamingResponse(json_array(itertools.chain((first,), rest)), media_type="application/json",
                             headers=headers)


def _chunks(jobs: JobService, where: JobFilter, after: tuple[float, str] | None,
            limit: int | None = None, oldest: tuple[float, str] | None = None,
            ) -> Iterator[tuple[list[dict[str, Any]], bool]]:
    """The listing's jobs as JSON, newest first, a chunk at a time: at most
    CHUNK_TEXT_CHARS of their prompts and errors (store.list_chunk), so a client
    that stops reading holds a chunk or two here until --write-timeout, never
    the page (1,000 jobs with maximal prompts are 80 MB); each with whether it
    was the last. Queue positions are read once, when a queued job first appears."""
    positions: dict[str, int] | None = None
    left = limit
    while True:
        size = JOB_CHUNK if left is None else min(JOB_CHUNK, left)
        records, more = jobs.list_chunk(RECORD_COLUMNS, size, after, where, CHUNK_TEXT_CHARS, oldest=oldest)
        if left is not None:
            left -= len(records)
        last = not more or not records or left == 0
        if positions is None and any(record[_STATUS] == JobStatus.QUEUED.value for record in records):
            positions = jobs.queue_positions()
        yield [record_json(record, positions.get(record[_ID]) if positions else None) for record in records], last
        if last:
            return
        after = (records[-1][_CREATED_AT], records[-1][_ID])


@router.get("/{job_id}", response_model=None, responses=returns(Job, 404))
def get_job(jobs: Jobs, job_id: str) -> JSONResponse:
    return JSONResponse(jobs.job_json(_job_id(job_id)))


# Job bodies go out as JSONResponse: they are plain JSON types already, and
# FastAPI's generic encoder cost a fifth of the server's CPU under load.
# Mutations run on the event loop thread, where the scheduler and event bus live.
@router.post("", status_code=201, response_model=None, responses=returns(Job, 400, 413, 422, 429, status=201))
async def create_job(jobs: Jobs, body: CreateJobRequest) -> JSONResponse:
    asked = body.model_dump(exclude={"start"})
    row = jobs.create_job(asked, start=body.start)
    return JSONResponse(jobs.to_json(row), status_code=201)


@router.post("/{job_id}/start", response_model=None, responses=returns(Job, 404, 409, 429))
async def start_job(jobs: Jobs, job_id: str) -> JSONResponse:
    return JSONResponse(jobs.to_json(jobs.start(_job_id(job_id))))


@router.post("/{job_id}/stop", response_model=None, responses=returns(Job, 404, 409))
async def stop_job(jobs: Jobs, job_id: str) -> JSONResponse:
    return JSONResponse(jobs.to_json(await jobs.stop(_job_id(job_id))))


@router.post("/{job_id}/star", response_model=None, responses=returns(Job, 404))
async def star_job(jobs: Jobs, job_id: str) -> JSONResponse:
    """Mark a job as a favourite (`starred`; GET /api/jobs?starred=true lists them)."""
    return JSONResponse(jobs.to_json(jobs.set_starred(_job_id(job_id), True)))


@router.delete("/{job_id}/star", response_model=None, responses=returns(Job, 404))
async def unstar_job(jobs: Jobs, job_id: str) -> JSONResponse:
    return JSONResponse(jobs.to_json(jobs.set_starred(_job_id(job_id), False)))


@router.delete("/{job_id}", response_model=None, responses=returns(DeletedBody, 404))
async def delete_job(jobs: Jobs, job_id: str) -> dict[str, str]:
    job_id = _job_id(job_id)
    await jobs.delete(job_id)
    return {"detail": f"Job {job_id} deleted"}


def _no_output(row: JobRow, what: str) -> JSONResponse:
    """404 for a video or poster the job does not have, saying why: the CLI's
    `download` prints it."""
    status = JobStatus(row.status)
    if status is JobStatus.STOPPED:
        why = f"was stopped before it made a {what}"
    elif status is JobStatus.FAILED:
        why = f"failed before it made a {what}: {row.error}"
    elif status is JobStatus.COMPLETED:
        why = f"completed, but its {what} is no longer in the output directory"
    elif status is JobStatus.RUNNING:
        why = f"is still running: it has no {what} yet"
    elif status is JobStatus.QUEUED:
        why = f"is queued: it has no {what} yet"
    else:
        why = f"has not been started: it has no {what} yet"
    return JSONResponse({"detail": f"job {row.id} {why}"}, status_code=404)


_VIDEO_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"video/mp4": {}}, "description": "the MP4; Range requests get 206"},
    206: {"content": {"video/mp4": {}}, "description": "the requested byte range"},
    416: {"description": "the range lies outside the file"},
    **errors(404),
}
_POSTER_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/jpeg": {}}, "description": "a JPEG frame"}, **errors(404),
}


@router.get("/{job_id}/video", response_class=FileResponse, responses=_VIDEO_RESPONSES)
def job_video(jobs: Jobs, job_id: str) -> Response:
    row, path = jobs.output(_job_id(job_id), "video")
    if path is None:
        return _no_output(row, "video")
    return FileResponse(path, media_type="video/mp4", filename=f"{row.id}.mp4",
                        content_disposition_type="inline")


@router.get("/{job_id}/poster", response_class=FileResponse, responses=_POSTER_RESPONSES)
def job_poster(jobs: Jobs, job_id: str) -> Response:
    row, path = jobs.output(_job_id(job_id), "poster")
    if path is None:
        return _no_output(row, "poster")
    return FileResponse(path, media_type="image/jpeg")


# Browsers and download tools ask HEAD first; its own operation id keeps the schema valid.
router.add_api_route("/{job_id}/video", job_video, methods=["HEAD"], response_class=FileResponse,
                     responses=_VIDEO_RESPONSES, operation_id="head_job_video")
router.add_api_route("/{job_id}/poster", job_poster, methods=["HEAD"], response_class=FileResponse,
                     responses=_POSTER_RESPONSES, operation_id="head_job_poster")


@router.get("/{job_id}/logs", response_model=None, responses=returns(LogPage, 404, 422))
async def job_logs(
    jobs: Jobs,
    job_id: str,
    after: Annotated[int, Query(ge=0, description="skip this many lines")] = 0,
    limit: Annotated[int | None, Query(ge=1, le=100_000, description="at most this many lines")] = None,
) -> Response:
    row = jobs.require(_job_id(job_id))
    if limit is None or limit > LOG_CHUNK:  # as the original API answers with no limit: a chunk at a time
        body = await run_in_threadpool(_lines, jobs, row, after, limit)  # its first read indexes the log
        return StreamingResponse(body, media_type="application/json")
    lines, total = await run_in_threadpool(jobs.log_lines, row.id, after, limit)
    return JSONResponse({
        "lines": lines,
        "total": total,
        "next_after": after + len(lines) if after < total else total,
        "progress": row.progress,
        "progress_msg": row.progress_msg,
        "phase": row.phase,
    })


def _lines(jobs: JobService, row: JobRow, after: int, limit: int | None) -> Iterator[bytes]:
    """The lines present when the request came (up to `limit`), in chunks; then the page's other fields."""
    first, total = jobs.log_lines(row.id, after, LOG_CHUNK if limit is None else min(limit, LOG_CHUNK))
    end = total if limit is None else min(total, after + limit)

    def chunks() -> Iterator[list[str]]:
        yield first
        start = after + len(first)
        while start < end:
            lines, _ = jobs.log_lines(row.id, start, min(LOG_CHUNK, end - start))
            if not lines:
                return
            yield lines
            start += len(lines)

    rest = {"total": total, "next_after": end if after < total else total, "progress": row.progress,
            "progress_msg": row.progress_msg, "phase": row.phase}
    return json_object_with_lines(chunks(), rest)


@router.get("/{job_id}/download_log", response_class=FileResponse,
            responses={200: {"content": {"text/plain": {}}, "description": "the whole log"}, **errors(404)})
def download_log(jobs: Jobs, job_id: str) -> Response:
    row, path = jobs.log_file(_job_id(job_id))
    if path is None:
        return JSONResponse({"detail": "This job has no log yet"}, status_code=404)
    return FileResponse(path, media_type="text/plain; charset=utf-8", filename=f"{row.id}.log")
