"""Images for image-to-video jobs: upload one (validated, stripped of its
metadata, stored by content), then name its id in a job's `image`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from ..jobs.uploads import FORMATS, MAX_UPLOAD_BYTES, Upload, UploadRefused, UploadStore
from .deps import Jobs, Uploads, job_id as _job_id
from .asgi import FormError, file_problem, form_file
from .openapi import errors

router = APIRouter(prefix="/api/uploads", tags=["uploads"], responses=errors(401, 429))


class UploadBody(BaseModel):
    id: str = Field(description="the SHA-256 of the stored PNG: name it in a job's `image`")
    width: int
    height: int
    bytes: int
    source_format: str = Field(description="PNG, JPEG or WEBP, as uploaded (it is stored as PNG)")
    url: str


def _saved(store: UploadStore, data: bytes) -> Upload | tuple[int, str]:
    """The upload, or why it was refused: returned, not raised. An exception
    handed from a worker thread to the event loop stays in a reference cycle
    (the future holds it, its traceback the frame that holds the future) until
    the garbage collector's next full pass, and with it every frame's locals:
    the file and Pillow's half-read picture. 20 refused uploads left +116 MiB."""
    try:
        return store.save(data)
    except UploadRefused as refused:
        return refused.status, str(refused)


async def store_image(store: UploadStore, data: bytes) -> Upload:
    """`data` stored as an upload, once one of the store's decode slots is
    free: opening an image costs memory too (Pillow decompresses a PNG's text
    and copies a WebP whole as it reads their headers), so the slot is taken
    before the first header is read, and N uploads at once hold at most
    --max-image-decodes opened or decoded pictures. Worker threads are not
    cancelled (anyio's default), so a slot is held until its work has really
    ended."""
    async with store.decode_slots:
        saved = await run_in_threadpool(_saved, store, data)
    if isinstance(saved, Upload):
        return saved
    raise UploadRefused(*saved)


async def _image_bytes(request: Request) -> bytes | JSONResponse:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        try:
            async with form_file(request, "image", MAX_UPLOAD_BYTES) as upload:
                return await run_in_threadpool(upload.read)
        except FormError as exc:
            return file_problem(exc.status, str(exc))
    if content_type in FORMATS.values():
        return await request.body()
    return file_problem(415, "send an image (PNG, JPEG or WebP) as the body, or as a form's `file` field")


@router.post("", status_code=201, response_model=UploadBody, responses=errors(400, 413, 415, 422),
             openapi_extra={"requestBody": {"content": {
                 **{kind: {"schema": {"type": "string", "format": "binary"}} for kind in FORMATS.values()},
                 "multipart/form-data": {"schema": {"type": "object", "properties": {
                     "file": {"type": "string", "format": "binary"}}}}}}})
async def upload_image(request: Request, store: Uploads) -> Any:
    """Store an image: PNG, JPEG or WebP, at most 32 MiB. A PNG or WebP may have
    at most 9.4 million pixels (3072x3072); a JPEG, decoded at a reduced scale,
    may be larger. What decoding it takes, estimated from its headers, must be
    within --max-image-memory (80 MiB: a WebP up to about 2048x2048, a 4:2:0
    progressive JPEG up to about 19 megapixels), and its metadata within
    --max-image-metadata (4 MiB). It is turned upright by its EXIF orientation,
    brought within 2048 pixels a side (the most any model renders) and kept as a
    PNG without any metadata. The same picture gives the same id."""
    data = await _image_bytes(request)
    if isinstance(data, JSONResponse):
        return data
    try:
        upload = await store_image(store, data)
    except UploadRefused as exc:
        return file_problem(exc.status, str(exc))
    return JSONResponse(upload.as_json(), status_code=201)


@router.post("/from-job/{job_id}", status_code=201, response_model=UploadBody, responses=errors(404, 409))
async def upload_last_frame(jobs: Jobs, store: Uploads, job_id: str) -> Any:
    """A completed job's last frame as an upload: start an image-to-video job
    from it to continue the clip ("Continue from last frame")."""
    row, video = jobs.output(_job_id(job_id), "video")
    if video is None:
        return JSONResponse({"detail": f"job {row.id} has no video to continue from (it is {row.status})",
                             "status": row.status, "action": "continue"}, status_code=409)
    try:
        async with store.decode_slots:
            upload = await run_in_threadpool(store.save_last_frame, video)
    except UploadRefused as exc:
        return file_problem(exc.status, str(exc))
    return JSONResponse(upload.as_json(), status_code=201)


_IMAGE = {200: {"content": {"image/png": {}}, "description": "the stored PNG"}, **errors(404)}


@router.get("/{upload_id}", response_class=FileResponse, responses=_IMAGE)
def uploaded_image(store: Uploads, upload_id: str) -> Response:
    if not store.exists(upload_id):
        return JSONResponse({"detail": "no upload has this id"}, status_code=404)
    return FileResponse(store.path(upload_id), media_type="image/png",
                        headers={"Cache-Control": "private, max-age=31536000, immutable"})


router.add_api_route("/{upload_id}", uploaded_image, methods=["HEAD"], response_class=FileResponse,
                     responses=_IMAGE, operation_id="head_uploaded_image")
