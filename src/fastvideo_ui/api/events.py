"""`GET /api/events`: job events as Server-Sent Events, resumable by Last-Event-ID."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse

from .deps import Bus
from .openapi import errors

router = APIRouter(prefix="/api", tags=["events"], responses=errors(401, 429))

KEEPALIVE_S = 15.0
RETRY_MS = 2000


@router.get("/events", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}, "description": "an endless event stream"}})
async def events(
    bus: Bus,
    last_event_id: Annotated[str | None, Header()] = None,
    since: Annotated[str | None, Query(description="same as the Last-Event-ID header")] = None,
) -> StreamingResponse:
    replay, subscription = bus.subscribe(last_event_id or since)

    async def stream() -> AsyncIterator[bytes]:
        try:
            yield f"retry: {RETRY_MS}\n: connected to {bus.boot}\n\n".encode()
            for replayed in replay:
                yield replayed.frame
            while True:
                try:
                    event = await asyncio.wait_for(subscription.get(), KEEPALIVE_S)
                except asyncio.TimeoutError:
                    yield b": keepalive\n\n"
                    continue
                if event is None:
                    return  # fell too far behind; the client resumes from its last id
                yield event.frame
        finally:
            bus.unsubscribe(subscription)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
