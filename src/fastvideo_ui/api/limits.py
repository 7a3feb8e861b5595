"""A cap on request bodies, enforced before any route reads one."""

from __future__ import annotations


from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..jobs.uploads import MAX_UPLOAD_BYTES
from .asgi import openai_path, send_json_error

# A create body is a few hundred bytes; two 10,000-character prompts in 4-byte
# UTF-8 are 80 KB. Nothing legitimate comes near this.
MAX_BODY_BYTES = 256 * 1024
MAX_IMPORT_BYTES = 8 * 1024 * 1024
# Routes that take a file: the MP4 whose settings are read back is spooled to
# disk as it arrives, never held whole in memory.
MAX_BODY_BYTES_FOR = {"/api/media/settings": 1024 * 1024 * 1024,
                      "/api/uploads": MAX_UPLOAD_BYTES + 64 * 1024,  # an image, and a form around it
                      # A file of presets (api/presets.py): its 1,000 at 8 KiB each on average, where a preset
                      # is a few hundred bytes (an export of 1,000 such is about 300 KB). A preset may store
                      # up to 64 KiB of values (jobs/presets.py), so 1,000 at that could need 64 MiB; this is
                      # what one request may make the server parse and check on its event loop: 8 MiB of them
                      # is about a tenth of a second. An export past it (over 128 presets of the most) is
                      # imported in parts (the UI and the CLI say so on the 413).
                      "/api/presets/import": MAX_IMPORT_BYTES}
# Routes that take a file only in a multipart form: OpenAI's create sends its
# input_reference image there, beside fields a JSON body would carry.
MAX_FORM_BYTES_FOR = {"/v1/videos": MAX_UPLOAD_BYTES + MAX_BODY_BYTES}


def _too_large_detail(max_bytes: int) -> str:
    return f"Request body too large: the limit is {max_bytes} bytes"


class _TooLarge(HTTPException):
    """An HTTPException, so a route that is reading its body answers 413 through
    FastAPI's handler instead of FastAPI turning it into a 400 parse error."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(status_code=413, detail=_too_large_detail(max_bytes))


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES,
                 max_bytes_for: dict[str, int] | None = None, max_form_bytes_for: dict[str, int] | None = None) -> None:
        self.app = app
        self.default_max_bytes = max_bytes
        self.max_bytes_for = MAX_BODY_BYTES_FOR if max_bytes_for is None else max_bytes_for
        self.max_form_bytes_for = MAX_FORM_BYTES_FOR if max_form_bytes_for is None else max_form_bytes_for

    def _max_bytes(self, path: str, headers: Headers) -> int:
        if path in self.max_form_bytes_for:
            content_type = headers.get("content-type", "").split(";")[0].strip().lower()
            if content_type == "multipart/form-data":
                return self.max_form_bytes_for[path]
        return self.max_bytes_for.get(path, self.default_max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        max_bytes = self._max_bytes(scope["path"], headers)
        openai_shape = openai_path(scope["path"])
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            await self._refuse(send, max_bytes, openai_shape)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise _TooLarge(max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if started:
                raise
            await self._refuse(send, max_bytes, openai_shape)

    async def _refuse(self, send: Send, max_bytes: int, openai_shape: bool) -> None:
        await send_json_error(send, 413, _too_large_detail(max_bytes), openai_shape=openai_shape)
