"""`/api/session`: the web UI's login, so `<video>` and SSE work without a token in the URL."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from .auth import (
    COOKIE_NAME, SESSION_TTL_S, Credentials, FailedAttempts, client_address, too_many_attempts_detail,
)
from .openapi import errors

router = APIRouter(prefix="/api/session", tags=["session"])


class LoginRequest(BaseModel):
    token: str = Field(max_length=1000, description="the server's API token")


class SessionState(BaseModel):
    auth_required: bool = Field(description="whether this server asks for a token")
    authenticated: bool = Field(description="whether this request carries valid credentials")


def _credentials(request: Request) -> Credentials | None:
    return request.app.state.credentials


def _state(request: Request) -> SessionState:
    credentials = _credentials(request)
    if credentials is None:
        return SessionState(auth_required=False, authenticated=True)
    return SessionState(auth_required=True, authenticated=credentials.request_allowed(request.headers))


@router.get("", response_model=SessionState)
def get_session(request: Request) -> SessionState:
    return _state(request)


# async: it runs on the event loop, as the middleware does, so the two never
# update the failed-attempt counts from different threads.
@router.post("", response_model=SessionState, responses=errors(400, 401, 413, 422, 429))
async def log_in(request: Request, body: LoginRequest, response: Response) -> SessionState | JSONResponse:
    credentials = _credentials(request)
    if credentials is None:
        return SessionState(auth_required=False, authenticated=True)
    attempts: FailedAttempts = request.app.state.failed_attempts
    address = client_address(request.scope)
    retry_after = attempts.retry_after(address)
    if retry_after is not None and not credentials.token_matches(body.token):
        return JSONResponse({"detail": too_many_attempts_detail(retry_after)}, status_code=429,
                            headers={"Retry-After": str(retry_after)})
    if not credentials.token_matches(body.token):
        attempts.record(address)
        return JSONResponse({"detail": "Wrong token"}, status_code=401,
                            headers={"WWW-Authenticate": 'Bearer realm="fastvideo-ui"'})
    response.set_cookie(
        COOKIE_NAME, credentials.new_session(), max_age=SESSION_TTL_S, path="/",
        httponly=True, samesite="strict", secure=request.url.scheme == "https",
    )
    return SessionState(auth_required=True, authenticated=True)


@router.delete("", response_model=SessionState)
def log_out(request: Request, response: Response) -> SessionState:
    # The cookie is self-contained, so logging out forgets it in this browser;
    # changing the token is what revokes every session at once.
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="strict")
    auth_required = _credentials(request) is not None
    return SessionState(auth_required=auth_required, authenticated=not auth_required)
