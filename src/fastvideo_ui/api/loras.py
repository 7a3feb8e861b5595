"""The LoRA library over HTTP: list it, upload a .safetensors file into it
(streamed to disk, checked as it arrives), delete one no active job uses."""

from __future__ import annotations

import errno
from collections.abc import Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Annotated, TypeVar

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.requests import ClientDisconnect

from ..loras.library import LoraEntry, LoraInUse, LoraLibrary, LoraNotFound
from ..loras.names import LoraRefused
from ..loras.pending import PendingLora
from .asgi import FormError, file_problem
from .deps import Loras
from .form_stream import FilePart, streamed_file
from .openapi import errors

PATH = "/api/loras"
# Bytes gathered before a thread writes them: a thread hop per 1 MiB, not per
# 64 KiB network read, and at most this much of an upload in memory.
WRITE_BATCH = 1024 * 1024
FORM_OVERHEAD = 64 * 1024  # a form's boundaries and part headers around the file (app.py's body cap)
_NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
T = TypeVar("T")

router = APIRouter(prefix=PATH, tags=["loras"], responses=errors(401, 429))


class LoraBody(BaseModel):
    name: str = Field(description="the file's name in the library: name it in a job's `loras`")
    bytes: int
    sha256: str
    base_model: str | None = Field(description="the model it was trained on, where its safetensors metadata says")
    created_at: str = Field(description="when it was added (the file's modification time), ISO 8601 in UTC")


class LoraConflict(BaseModel):
    detail: str
    jobs: list[str] = Field(default_factory=list,
                            description="the jobs not yet ended (pending, queued, running) that use it")


_CONFLICT = {"model": LoraConflict, "description": "another file has this name (upload), or a pending, queued or "
                                                  "running job uses it (delete)"}


@dataclass(frozen=True)
class _Refused:
    """A refusal carried out of a worker thread as plain values: an exception
    handed to the event loop keeps its frames (and an upload's buffers) alive
    in a reference cycle until the collector's next full pass (see uploads.py)."""
    status: int
    message: str
    field: str


def _guarded(action: Callable[[], T]) -> T | _Refused:
    try:
        return action()
    except LoraRefused as exc:
        return _Refused(exc.status, str(exc), exc.field)
    except OSError as exc:  # the disk: full, gone, not writable
        status = 507 if exc.errno in _NO_SPACE else 500
        return _Refused(status, f"cannot store the LoRA: {exc.strerror or exc}", "file")


def _answer(refused: _Refused, name_from: str = "query") -> JSONResponse:
    if refused.status == 422 and refused.field == "name":
        loc = ["query", "name"] if name_from == "query" else ["body", "file"]
        message = refused.message if name_from == "query" else f"its file name {refused.message}; or give ?name="
        return JSONResponse({"detail": [{"type": "value_error", "loc": loc, "msg": message}]}, status_code=422)
    if refused.status == 409:
        return JSONResponse({"detail": refused.message, "jobs": []}, status_code=409)
    return file_problem(refused.status, refused.message)


class _Upload:
    """One upload's bytes on their way into the library, written by worker
    threads a batch at a time, so the event loop never waits on the disk."""

    def __init__(self, library: LoraLibrary) -> None:
        self.library = library
        self.pending: PendingLora | None = None
        self.buffer = bytearray()

    async def begin(self, name: str) -> _Refused | None:
        begun = await run_in_threadpool(_guarded, lambda: self.library.begin(name))
        if isinstance(begun, _Refused):
            return begun
        self.pending = begun
        return None

    async def add(self, data: bytes) -> _Refused | None:
        """Batched once the header has passed; until then each chunk goes at once,
        so a bad header is refused on the bytes that show it, not a batch later."""
        self.buffer += data
        assert self.pending is not None
        if len(self.buffer) < WRITE_BATCH and self.pending.header_read:
            return None
        return await self._flush()

    async def _flush(self) -> _Refused | None:
        batch, self.buffer = bytes(self.buffer), bytearray()
        assert self.pending is not None
        pending = self.pending
        written = await run_in_threadpool(_guarded, lambda: pending.write(batch))
        return written if isinstance(written, _Refused) else None

    async def finish(self) -> tuple[LoraEntry, bool] | _Refused:
        refused = await self._flush()
        if refused is not None:
            return refused
        assert self.pending is not None
        pending = self.pending
        return await run_in_threadpool(_guarded, lambda: self.library.finish(pending))

    async def close(self) -> None:
        """Whatever ended the upload, its temporary file goes (shielded: a
        cancelled request still cleans up)."""
        if self.pending is not None and not self.pending.done:
            with anyio.CancelScope(shield=True):
                await run_in_threadpool(self.pending.abort)


def _stored(result: tuple[LoraEntry, bool] | _Refused, name_from: str) -> JSONResponse:
    if isinstance(result, _Refused):
        return _answer(result, name_from)
    entry, created = result
    return JSONResponse(entry.as_json(), status_code=201 if created else 200)


async def _from_body(request: Request, upload: _Upload, name: str | None) -> JSONResponse:
    if name is None:
        return JSONResponse({"detail": [{"type": "missing", "loc": ["query", "name"],
                                         "msg": "give the LoRA's name as ?name= (or send a multipart form whose "
                                                "`file` field has a file name)"}]}, status_code=422)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > upload.library.max_bytes:  # refused before a byte is read
        return file_problem(413, f"the file is over this server's limit of {upload.library.max_bytes} bytes "
                                 f"(--max-lora-bytes)")
    refused = await upload.begin(name)  # a name refused is refused before the body is read
    if refused is not None:
        return _answer(refused)
    async for chunk in request.stream():
        refused = await upload.add(chunk)
        if refused is not None:
            return _answer(refused)
    return _stored(await upload.finish(), "query")


async def _from_form(request: Request, upload: _Upload, name: str | None) -> JSONResponse:
    name_from = "query" if name is not None else "body"
    try:
        async with aclosing(streamed_file(request)) as items:  # closed at once when a refusal ends the loop
            async for item in items:
                if isinstance(item, FilePart):
                    refused = await upload.begin(name if name is not None else item.filename)
                else:
                    refused = await upload.add(item.data)
                if refused is not None:
                    return _answer(refused, name_from)
    except FormError as exc:
        return file_problem(exc.status, str(exc))
    if upload.pending is None:
        return file_problem(422, "send the LoRA as the form's `file` field")
    return _stored(await upload.finish(), name_from)


@router.get("", response_model=list[LoraBody])
def list_loras(library: Loras) -> JSONResponse:
    """Every LoRA in the library (--lora-dir), by name: those uploaded and
    those copied into the directory by hand (hashed the first time they are
    listed)."""
    return JSONResponse([entry.as_json() for entry in library.list()])


@router.post("", status_code=201, response_model=LoraBody,
             responses={200: {"model": LoraBody, "description": "the same file was already in the library"},
                        409: _CONFLICT, **errors(400, 413, 415, 422)},
             openapi_extra={"requestBody": {"content": {
                 "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                 "multipart/form-data": {"schema": {"type": "object", "properties": {
                     "file": {"type": "string", "format": "binary"}}}}}}})
async def add_lora(request: Request, library: Loras, name: Annotated[str | None, Query(
        description="its name in the library (.safetensors is added if missing); a form's file name otherwise",
        max_length=1000)] = None) -> Response:
    """Add a LoRA: a .safetensors file, as a multipart form's `file` or as the
    body with `?name=`, streamed to disk. Its header is checked as it arrives
    (a pickle is 415; a truncated file, a header that lies about its tensors,
    or one over 4 MiB is 422) and nothing is kept of a refused one. Over
    --max-lora-bytes is 413. The same file under the same name again is 200;
    a different file under a name in use is 409."""
    upload = _Upload(library)
    try:
        if request.headers.get("content-type", "").split(";")[0].strip().lower() == "multipart/form-data":
            return await _from_form(request, upload, name)
        return await _from_body(request, upload, name)
    except ClientDisconnect:  # nobody reads the answer; the upload's file goes below
        return Response(status_code=400)
    finally:
        await upload.close()


@router.delete("/{name}", status_code=204, responses={409: _CONFLICT, **errors(404, 422)})
def delete_lora(library: Loras, name: str) -> Response:
    """Remove a LoRA from the library: 409 while a job that has not ended (pending, queued or running) names it."""
    try:
        library.remove(name)
    except LoraRefused as exc:
        return JSONResponse({"detail": [{"type": "value_error", "loc": ["path", "name"], "msg": str(exc)}]},
                            status_code=422)
    except LoraNotFound:
        return JSONResponse({"detail": f"no LoRA called {name!r} in the library"}, status_code=404)
    except LoraInUse as exc:
        return JSONResponse({"detail": str(exc), "jobs": exc.job_ids}, status_code=409)
    return Response(status_code=204)
