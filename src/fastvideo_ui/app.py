"""The ASGI app: the API under /api and the web UI at /."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import JSONResponse
from starlette.routing import Match, Mount
from starlette.types import Scope
from fastapi.staticfiles import StaticFiles

from . import __version__
from .api import (docs, errors, events, jobs, loras, media, metrics, presets, queue, session, sweeps, system,
                  uploads, videos, webhooks, weights)
from .api.auth import PUBLIC_API_PATHS, Credentials, FailedAttempts, RequireToken, cookie_name
from .api.limits import MAX_BODY_BYTES_FOR, BodySizeLimit
from .api.origin import AllowedHosts, BrowserGuard
from .api.security import SecurityHeaders
from .config import Settings
from .connections import AcceptErrorLog
from .runtime import Runtime
from .workers.devices import Inventory

WEB_DIR = Path(__file__).parent / "web"


def create_app(settings: Settings, inventory: Inventory | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        asyncio.get_running_loop().set_exception_handler(AcceptErrorLog())
        runtime = Runtime.build(settings, inventory)
        app.state.runtime = runtime
        if credentials is not None:
            credentials.sessions = runtime.sessions
        await runtime.start()
        try:
            yield
        finally:
            await runtime.close()

    # /docs is ours (api/docs.py): FastAPI's loads its scripts from a CDN. No
    # ReDoc: it would need the same, for a second view of the same schema.
    app = FastAPI(title="fastvideo-ui", version=__version__, lifespan=lifespan,
                  description="Queue, run, stop and keep text-to-video jobs.",
                  docs_url=None, redoc_url=None, swagger_ui_oauth2_redirect_url=None)
    credentials = (Credentials(settings.api_token, settings.port, FailedAttempts(settings.max_wrong_tokens))
                   if settings.api_token else None)
    app.state.credentials = credentials
    # Innermost first. Auth sits outside the body cap, so an unauthenticated
    # request is refused before its body is read; CORS and the security headers
    # sit outside auth, so a 401 carries them too.
    # Gzip compresses JSON, HTML, JS and CSS; Starlette leaves video, images and
    # the event stream alone, so Range requests and SSE are unaffected. Level 1:
    # at level 6 gzip alone added about 60 ms to the seed's full list of 10k
    # jobs (241 ms against 183 uncompressed), and level 1 still makes it 16x smaller.
    app.add_middleware(GZipMiddleware, minimum_size=1000, compresslevel=1)
    # A LoRA is gigabytes, streamed to disk as it arrives: its route's cap is the setting's, not the JSON one.
    app.add_middleware(BodySizeLimit, max_bytes_for={
        **MAX_BODY_BYTES_FOR, loras.PATH: settings.max_lora_bytes + loras.FORM_OVERHEAD})
    if credentials is not None:
        app.add_middleware(RequireToken, credentials=credentials, metrics_public=settings.metrics_public)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE", "HEAD", "OPTIONS"],
            allow_headers=["*"],
            expose_headers=["Link", "X-Next-Before", "X-Total-Count", "Content-Range", "Accept-Ranges"],
        )
    app.add_middleware(BrowserGuard, hosts=AllowedHosts(settings.host, settings.allowed_hosts),
                       cors_origins=settings.cors_origins)
    app.add_middleware(SecurityHeaders)
    errors.install(app)
    app.include_router(system.router)
    app.include_router(jobs.router)
    app.include_router(sweeps.router)
    app.include_router(queue.router)
    app.include_router(webhooks.router)
    app.include_router(media.router)
    app.include_router(weights.router)
    app.include_router(uploads.router)
    app.include_router(loras.router)
    app.include_router(presets.router)
    app.include_router(videos.router)
    app.include_router(metrics.router)
    app.include_router(events.router)
    app.include_router(session.router)

    # Below /api nothing falls through to the web UI's files: an unknown API
    # path is a JSON 404 for every method, and a known one asked with the wrong
    # method a 405 that lists the right ones in Allow.
    @app.api_route("/api/{path:path}", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
                   include_in_schema=False)
    async def unknown_api_path(request: Request, path: str) -> JSONResponse:
        allowed = _methods_for(app, request.scope)
        if allowed:
            return JSONResponse({"detail": f"Method {request.method} not allowed here; use {', '.join(allowed)}"},
                                status_code=405, headers={"Allow": ", ".join(allowed)})
        return JSONResponse({"detail": "Not Found"}, status_code=404)

    @app.api_route("/v1/{path:path}", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
                   include_in_schema=False)
    async def unknown_v1_path(request: Request, path: str) -> JSONResponse:
        allowed = _methods_for(app, request.scope)
        if allowed:
            return JSONResponse({"error": {"message": f"{request.method} is not allowed here; use {', '.join(allowed)}",
                                           "type": "invalid_request_error", "param": None, "code": None}},
                                status_code=405, headers={"Allow": ", ".join(allowed)})
        return JSONResponse({"error": {"message": f"Unknown path /v1/{path}; this server has /v1/videos",
                                       "type": "invalid_request_error", "param": None, "code": "not_found"}},
                            status_code=404)

    app.openapi = lambda: _openapi_with_auth(app, cookie_name(settings.port))  # type: ignore[method-assign]
    docs.install(app)

    if (WEB_DIR / "index.html").is_file():
        app.mount("/", StaticFiles(directory=WEB_DIR, html=True), name="web")
    return app


API_METHODS = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")


def _methods_for(app: FastAPI, scope: Scope) -> list[str]:
    """The methods the API's own routes answer at this request's path, asked
    of Starlette's own matching (the catch-all and the web UI's mount aside)."""
    routes = [route for route in app.router.routes if not isinstance(route, Mount)
              and getattr(route, "path", None) not in ("/api/{path:path}", "/v1/{path:path}")]
    return [method for method in API_METHODS
            if any(route.matches(dict(scope, method=method))[0] == Match.FULL for route in routes)]


def _openapi_with_auth(app: FastAPI, session_cookie: str) -> dict[str, Any]:
    """The generated schema, plus how to authenticate: a bearer token, or the
    session cookie from POST /api/session; the public paths need neither."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        schema.setdefault("components", {})["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer",
                       "description": "the server's --api-token (only when one is set)"},
            "session": {"type": "apiKey", "in": "cookie", "name": session_cookie,
                        "description": "set by POST /api/session"},
        }
        schema["security"] = [{"bearer": []}, {"session": []}]
        for path in PUBLIC_API_PATHS:
            for operation in schema["paths"].get(path, {}).values():
                operation["security"] = []
        app.openapi_schema = schema
    return app.openapi_schema
