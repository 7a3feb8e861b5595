"""OpenAI's videos API (`/v1/videos`), as a thin layer over the same queue.

A video is a job: the same id works here and under /api/jobs. What OpenAI's
API has no word for (steps, seed, guidance, offload, priority, webhook_url)
comes as extra fields, which the OpenAI SDKs send through `extra_body`.
Errors take OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`,
so an SDK raises its own exception types with our message.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import AfterValidator, BaseModel, Field, ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException

from ..jobs.params import InvalidParams
from ..jobs.service import QueueFull
from ..jobs.states import IllegalTransition
from ..jobs.store import JobNotFound
from ..jobs.uploads import UploadRefused
from ..jobs.service import JobService
from ..jobs.uploads import UploadStore
from ..spec.checks import one_line_only
from ..spec.fields import FIELDS, MAX_PROMPT_CHARS
from .deps import Jobs, ModelsDep, Uploads, job_id as _job_id
from .openapi import openai_errors
from .schemas import CreateJobRequest
from .uploads import store_image
from .video_shape import (ALIASED, OPENAI_FIELDS, REFERENCE, UPLOAD_FIELD, OpenAIError, asked_from_openai,
                          default_model, video_json)

router = APIRouter(prefix="/v1/videos", tags=["openai"], responses=openai_errors(401, 429))


@contextmanager
def _as_openai_errors(video_id: str | None = None, renamed: dict[str, str] | None = None) -> Iterator[None]:
    """The jobs layer's exceptions, said the way OpenAI's API says them."""
    try:
        yield
    except JobNotFound:
        raise OpenAIError(404, f"No video found with id '{video_id}'", "video_id", "not_found") from None
    except InvalidParams as exc:
        names = renamed or {}
        # "size: width must be ..." says which side; "model: unknown model ..." needs no job field name.
        said = [f"{names[name]}: {name} {text}" if names.get(name) in ("size", "seconds")
                else f"{names.get(name, name)}: {text}" for name, text in exc.errors]
        field = exc.errors[0][0]
        raise OpenAIError(400, "; ".join(dict.fromkeys(said)), names.get(field, field), "invalid_value") from None
    except QueueFull as exc:
        raise OpenAIError(429, str(exc), None, "queue_full", "rate_limit_error") from None
    except IllegalTransition as exc:
        raise OpenAIError(409, str(exc), None, "conflict") from None


class Video(BaseModel):
    """OpenAI's video object; `id` is the job's id."""

    id: str
    object: Literal["video"]
    created_at: int
    completed_at: int | None
    expires_at: int | None
    model: str
    progress: int = Field(description="0-100, from the denoising steps")
    prompt: str
    remixed_from_video_id: str | None
    seconds: str
    size: str = Field(description="WIDTHxHEIGHT")
    status: Literal["queued", "in_progress", "completed", "failed"]
    error: dict[str, str] | None


class VideoList(BaseModel):
    object: Literal["list"]
    data: list[Video]
    first_id: str | None
    last_id: str | None
    has_more: bool


class VideoDeleted(BaseModel):
    id: str
    object: Literal["video.deleted"]
    deleted: bool


class RemixRequest(BaseModel):
    prompt: Annotated[str, AfterValidator(one_line_only)] = Field(min_length=1, max_length=MAX_PROMPT_CHARS)


def _video(jobs: JobService, job_id: str) -> dict[str, Any]:
    return video_json(jobs.job_json(job_id))


@asynccontextmanager
async def _create_body(request: Request) -> AsyncIterator[tuple[dict[str, Any], UploadFile | None]]:
    """The request's fields, from JSON, or from a form as the OpenAI SDKs send
    it, and the form's input_reference file, not yet read: it is decoded last,
    once the rest has passed, so a refused request costs no decode."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        try:
            form = await request.form(max_files=1, max_fields=100)
        except MultiPartException as exc:
            raise OpenAIError(400, f"the body is not a valid form: {exc.message}") from None
        except HTTPException as exc:  # how Starlette raises a MultiPartException inside an app
            if exc.status_code != 400:
                raise
            raise OpenAIError(400, f"the body is not a valid form: {exc.detail}") from None
        try:
            fields: dict[str, Any] = {key: value for key, value in form.items() if isinstance(value, str)}
            fields.update(_form_lists(form.multi_items(), fields))
            reference = form.get(REFERENCE)
            if isinstance(reference, str):
                fields[REFERENCE] = reference
            yield fields, reference if isinstance(reference, UploadFile) else None
        finally:
            await form.close()
        return
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError) as exc:
        raise OpenAIError(400, f"the body is not JSON ({exc}); send JSON or multipart/form-data") from None
    except RecursionError:  # Python's parser gives up some thousand levels down; a video is one level
        raise OpenAIError(400, "the body nests arrays or objects too deeply; a video is one flat object") from None
    if not isinstance(body, dict):
        raise OpenAIError(400, "the body must be a JSON object")
    yield body, None


LIST_FIELDS = tuple(f for f in FIELDS if f.is_list)


def _form_lists(items: list[tuple[str, Any]], fields: dict[str, Any]) -> dict[str, Any]:
    """A list field as a form carries it. The OpenAI SDKs send extra_body's
    `loras: [{lora, strength}, ...]` as repeated `loras[][lora]` and
    `loras[][strength]`, grouped by key, not by item: the n-th value of each key
    is the n-th item's, and a form where the keys' counts differ cannot be read
    back (400, saying so). A client may also send the list as one JSON value.
    The bracketed keys are taken out of `fields`."""
    out: dict[str, Any] = {}
    for f in LIST_FIELDS:
        prefix = f"{f.name}[]["
        columns: dict[str, list[str]] = {}
        for key, value in items:
            if key.startswith(prefix) and key.endswith("]") and isinstance(value, str):
                fields.pop(key, None)
                columns.setdefault(key[len(prefix):-1], []).append(value)
        if columns:
            counts = {len(values) for values in columns.values()}
            if len(counts) > 1:
                raise OpenAIError(400, f"{f.name}: in a form, give every item the same keys ("
                                       f"{', '.join(sorted(columns))}), or send {f.name} as one JSON value: "
                                       f"a form keeps each key's values apart, not each item's", f.name)
            out[f.name] = [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]
        elif isinstance(fields.get(f.name), str):
            try:
                out[f.name] = json.loads(fields[f.name])
            except (ValueError, RecursionError):  # RecursionError: nested past Python's parser
                pass  # left as sent: the request model names the field
    return out


async def _stored_image(uploads: UploadStore, data: bytes) -> str:
    """An input_reference file, stored as an upload: its id, for the job's upload field."""
    try:
        upload = await store_image(uploads, data)
    except UploadRefused as exc:
        raise OpenAIError(400, f"{REFERENCE}: {exc}", REFERENCE, "invalid_image") from None
    return upload.id


def _checked(fields: dict[str, Any], prompt: str, model_id: str) -> CreateJobRequest:
    """The extra fields through the same model as POST /api/jobs: one set of rules."""
    known = set(CreateJobRequest.model_fields) - {"model_id", "start", "prompt"}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise OpenAIError(400, f"{unknown[0]}: unknown field; besides {', '.join(OPENAI_FIELDS)} a video takes "
                               f"{', '.join(sorted(known))}", unknown[0], "unknown_parameter")
    try:
        return CreateJobRequest.model_validate({**fields, "prompt": prompt, "model_id": model_id})
    except ValidationError as exc:
        error = exc.errors()[0]
        param = ".".join(str(part) for part in error["loc"]) or None
        raise OpenAIError(400, f"{param}: {error['msg']}", param, "invalid_value") from None


@router.post("", response_model=Video, responses=openai_errors(400, 404, 413, 429))
async def create_video(request: Request, jobs: Jobs, models: ModelsDep, uploads: Uploads) -> JSONResponse:
    async with _create_body(request) as (body, reference):
        prompt = body.pop("prompt", None)
        if not isinstance(prompt, str) or not prompt.strip():
            raise OpenAIError(400, "prompt: required, a non-empty string", "prompt", "missing_required_parameter")
        if body.get(REFERENCE) is not None:
            raise OpenAIError(400, f"{REFERENCE}: send the image as a file in a multipart form (or upload it "
                                   f"with POST /api/uploads and pass its id as `{UPLOAD_FIELD}`)", REFERENCE,
                              "unsupported_value")
        model_id = body.pop("model", None) or default_model(models)
        if not isinstance(model_id, str):
            raise OpenAIError(400, "model: must be a string", "model", "invalid_type")
        given = {alias.name: body.pop(alias.name, None) for _, alias in ALIASED}
        checked = _checked(body, prompt, model_id)
        with _as_openai_errors(renamed={"model_id": "model"}):
            asked, renamed = asked_from_openai(models.find, checked.model_dump(exclude={"start"}), given)
        with _as_openai_errors(renamed=renamed):
            spec, params = jobs.checked(asked, arriving=frozenset() if reference is None else frozenset({UPLOAD_FIELD}))
            jobs.check_queue_room()
        if reference is not None:  # everything else has passed: now the image is worth decoding
            params[UPLOAD_FIELD] = await _stored_image(uploads, await reference.read())
        with _as_openai_errors(renamed=renamed):
            row = jobs.create(spec, params, start=True)
    return JSONResponse(video_json(jobs.to_json(row)))


@router.get("", response_model=VideoList, responses=openai_errors(400, 404))
def list_videos(
    jobs: Jobs,
    after: Annotated[str | None, Query(description="the last id of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    order: Annotated[Literal["asc", "desc"], Query(description="by creation time")] = "desc",
) -> JSONResponse:
    cursor = None
    if after:
        with _as_openai_errors(after):
            row = jobs.require(_job_id(after))
        cursor = (row.created_at, row.id)
    ids = [record[0] for record in jobs.list_records(("id",), limit + 1, cursor, ascending=order == "asc")]
    page = [_video(jobs, job_id) for job_id in ids[:limit]]
    return JSONResponse({"object": "list", "data": page, "first_id": page[0]["id"] if page else None,
                         "last_id": page[-1]["id"] if page else None, "has_more": len(ids) > limit})


@router.get("/{video_id}", response_model=Video, responses=openai_errors(404))
def retrieve_video(jobs: Jobs, video_id: str) -> JSONResponse:
    with _as_openai_errors(video_id):
        return JSONResponse(_video(jobs, _job_id(video_id)))


@router.delete("/{video_id}", response_model=VideoDeleted, responses=openai_errors(404))
async def delete_video(jobs: Jobs, video_id: str) -> JSONResponse:
    with _as_openai_errors(video_id):
        job_id = _job_id(video_id)
        await jobs.delete(job_id)
    return JSONResponse({"id": job_id, "object": "video.deleted", "deleted": True})


@router.post("/{video_id}/remix", response_model=Video, responses=openai_errors(400, 404, 413, 429))
async def remix_video(jobs: Jobs, video_id: str, body: RemixRequest) -> JSONResponse:
    with _as_openai_errors(video_id, renamed={"model_id": "model"}):
        row = jobs.remix(_job_id(video_id), body.prompt)
    return JSONResponse(video_json(jobs.to_json(row)))


@router.post("/{video_id}/cancel", response_model=Video, responses=openai_errors(404, 409))
async def cancel_video(jobs: Jobs, video_id: str) -> JSONResponse:
    """Not in OpenAI's API: stop a queued or running video (it ends as failed, code `stopped`)."""
    with _as_openai_errors(video_id):
        row = await jobs.stop(_job_id(video_id))
    return JSONResponse(video_json(jobs.to_json(row)))


_CONTENT: dict[int | str, dict[str, Any]] = {
    200: {"content": {"video/mp4": {}, "image/jpeg": {}}, "description": "the MP4, or a JPEG thumbnail"},
    **openai_errors(400, 404),
}


@router.get("/{video_id}/content", response_class=FileResponse, responses=_CONTENT)
def video_content(jobs: Jobs, video_id: str,
                  variant: Annotated[str, Query(description="video or thumbnail")] = "video") -> Response:
    if variant not in ("video", "thumbnail"):
        raise OpenAIError(400, f"variant: {variant!r} is not served here; ask for video or thumbnail",
                          "variant", "unsupported_value")
    with _as_openai_errors(video_id):
        row, path = jobs.output(_job_id(video_id), "video" if variant == "video" else "poster")
    if path is None:
        raise OpenAIError(404, f"video {row.id} has no {variant} (it is {row.status})", "video_id", "not_ready")
    if variant == "video":
        return FileResponse(path, media_type="video/mp4", filename=f"{row.id}.mp4")
    return FileResponse(path, media_type="image/jpeg", filename=f"{row.id}.jpg")


router.add_api_route("/{video_id}/content", video_content, methods=["HEAD"], response_class=FileResponse,
                     responses=_CONTENT, operation_id="head_video_content")
