"""`/api/session`: the web UI's sign-in, so `<video>` and SSE work without a token in the URL."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ..auth.sessions import SessionBook
from .auth import Credentials, too_many_attempts_detail, verdict_of
from .openapi import errors

router = APIRouter(prefix="/api/session", tags=["session"])


class LoginRequest(BaseModel):
    token: str = Field(max_length=1000, description="the server's API token")


class SessionState(BaseModel):
    auth_required: bool = Field(description="whether this server asks for a token")
    authenticated: bool = Field(description="whether this request carries valid credentials")


def _credentials(request: Request) -> Credentials | None:
    return request.app.state.credentials


def _book(credentials: Credentials) -> SessionBook:
    assert credentials.sessions is not None, "the runtime attaches its sessions before serving"
    return credentials.sessions


@router.get("", response_model=SessionState, responses=errors(429))
def get_session(request: Request) -> SessionState:
    auth_required = _credentials(request) is not None
    return SessionState(auth_required=auth_required, authenticated=verdict_of(request).authenticated)


# async: it runs on the event loop, as the middleware does, so the two never
# update the failed-attempt counts from different threads.
@router.post("", response_model=SessionState, responses=errors(400, 401, 413, 422, 429))
async def log_in(request: Request, body: LoginRequest, response: Response) -> SessionState | JSONResponse:
    credentials = _credentials(request)
    if credentials is None:
        return SessionState(auth_required=False, authenticated=True)
    verdict = credentials.try_token(request.scope, body.token)
    if verdict.retry_after is not None:
        return JSONResponse({"detail": too_many_attempts_detail(verdict.retry_after)}, status_code=429,
                            headers={"Retry-After": str(verdict.retry_after)})
    if not verdict.authenticated:
        return JSONResponse({"detail": "Wrong token"}, status_code=401,
                            headers={"WWW-Authenticate": 'Bearer realm="fastvideo-ui"'})
    book = _book(credentials)
    session_id = await asyncio.to_thread(book.create)
    previous = verdict_of(request).session_id
    if previous is not None:  # signing in again replaces this browser's session
        await asyncio.to_thread(book.revoke, previous)
    response.set_cookie(
        credentials.cookie_name, session_id, max_age=int(book.ttl_s), path="/",
        httponly=True, samesite="strict", secure=request.url.scheme == "https",
    )
    return SessionState(auth_required=True, authenticated=True)


@router.delete("", response_model=SessionState, responses=errors(429))
async def log_out(request: Request, response: Response) -> SessionState:
    """Ends this browser's session on the server too: its cookie, replayed, is refused."""
    credentials = _credentials(request)
    if credentials is None:
        return SessionState(auth_required=False, authenticated=True)
    session_id = verdict_of(request).session_id
    if session_id is not None:
        await asyncio.to_thread(_book(credentials).revoke, session_id)
    response.delete_cookie(credentials.cookie_name, path="/", httponly=True, samesite="strict")
    return SessionState(auth_required=True, authenticated=False)
