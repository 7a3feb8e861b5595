"""Reading a video's generation settings back out of an MP4 (the UI fills its
New job form from them when an MP4 is dropped on it)."""

from __future__ import annotations

import tempfile
from typing import IO, Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ..backends.settings_tag import KEYS, BrokenMp4, NotAnMp4, TooManyBoxes, decode, read_comment
from .asgi import FormError, file_problem, form_file
from .deps import ServerSettings, SettingsReads
from .openapi import errors

router = APIRouter(prefix="/api/media", tags=["media"], responses=errors(401, 429))
SPOOL_IN_MEMORY = 4 * 1024 * 1024


class VideoSettings(BaseModel):
    settings: dict[str, Any] = Field(description=", ".join(KEYS))


def _settings_in(file: IO[bytes], max_boxes: int) -> dict[str, Any] | JSONResponse:
    """The settings in the file, or the answer that says why there are none."""
    file.seek(0, 2)
    size = file.tell()
    try:
        comment = read_comment(file, size, max_boxes)
    except (BrokenMp4, TooManyBoxes) as exc:  # an MP4, but not one to read on in
        return file_problem(422, str(exc))
    except NotAnMp4 as exc:
        return file_problem(415, str(exc))
    settings = decode(comment) if comment else None
    if settings is None:
        return file_problem(422, "this MP4 carries no fastvideo-ui settings (it was not made by this tool, "
                                 "or its tags were stripped)")
    return settings


@router.post("/settings", response_model=VideoSettings,
             responses={**errors(400, 413, 415, 422),
                        200: {"description": "the settings the video was made with"}},
             openapi_extra={"requestBody": {"content": {
                 "video/mp4": {"schema": {"type": "string", "format": "binary"}},
                 "multipart/form-data": {"schema": {"type": "object", "properties": {
                     "file": {"type": "string", "format": "binary"}}}}}}})
async def video_settings(request: Request, settings: ServerSettings, reads: SettingsReads) -> JSONResponse:
    """The settings stored inside an MP4 this tool made: send the file as the
    body (`Content-Type: video/mp4`) or as the `file` field of a form."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    max_boxes = settings.max_mp4_boxes
    # A read holds up to a MiB of tag and what it parses to: --max-settings-reads
    # of them at once, the rest waiting with their bodies spooled (to disk past 4 MiB).
    if content_type == "multipart/form-data":
        try:
            async with form_file(request, "MP4") as upload, reads:
                found = await run_in_threadpool(_settings_in, upload, max_boxes)
        except FormError as exc:
            return file_problem(exc.status, str(exc))
    elif content_type in ("video/mp4", "application/octet-stream", "video/quicktime"):
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
            async for chunk in request.stream():
                await run_in_threadpool(spool.write, chunk)  # past 4 MiB it goes to disk
            async with reads:
                found = await run_in_threadpool(_settings_in, spool, max_boxes)
    else:
        return file_problem(415, "send an MP4: Content-Type video/mp4, or a multipart form with a `file` field")
    if isinstance(found, JSONResponse):
        return found
    return JSONResponse({"settings": found})
