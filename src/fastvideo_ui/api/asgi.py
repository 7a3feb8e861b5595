"""What the pure-ASGI middlewares share: answering with a JSON error themselves."""

from __future__ import annotations

import json

from starlette.types import Send


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
