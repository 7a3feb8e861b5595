"""What the pure-ASGI middlewares share: answering with a JSON error themselves."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import IO

from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Send


def openai_path(path: str) -> bool:
    """Whether a path is the OpenAI-style API's, whose clients read errors in OpenAI's shape."""
    return path == "/v1" or path.startswith("/v1/")


async def send_json_error(send: Send, status: int, detail: str, *headers: tuple[bytes, bytes],
                          openai_shape: bool = False) -> None:
    """`{"detail": ...}` with this status, in FastAPI's error shape; for the
    OpenAI-style API, `{"error": {...}}` in OpenAI's, so its SDKs read the message."""
    if openai_shape:
        kind = "authentication_error" if status == 401 else "invalid_request_error"
        error = {"message": detail, "type": kind, "param": None, "code": None}
        body = json.dumps({"error": error}).encode()
    else:
        body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *headers,
    ]})
    await send({"type": "http.response.body", "body": body})


class FormError(Exception):
    """A multipart body that cannot be read (400), or without its `file` field (422)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@asynccontextmanager
async def form_file(request: Request, what: str, max_part_size: int = 1024 * 1024) -> AsyncIterator[IO[bytes]]:
    """The `file` field of a multipart form (spooled to disk past 1 MiB, as
    Starlette does), open while the block runs."""
    try:
        form = await request.form(max_files=1, max_fields=5, max_part_size=max_part_size)
    except MultiPartException as exc:
        raise FormError(400, f"not a valid multipart form: {exc.message}") from None
    try:
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise FormError(422, f"send the {what} as the form's `file` field")
        yield upload.file
    finally:
        await form.close()


def file_problem(status: int, message: str) -> JSONResponse:
    """A refused file: a 422 names the `file` field, as FastAPI's own 422s name theirs."""
    if status == 422:
        return JSONResponse({"detail": [{"type": "value_error", "loc": ["body", "file"], "msg": message}]},
                            status_code=422)
    return JSONResponse({"detail": message}, status_code=status)
