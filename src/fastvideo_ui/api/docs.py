"""The interactive API docs at /docs: Swagger UI served from the package.

FastAPI's own page loads Swagger UI from a CDN and starts it with an inline
script, so it was blank offline, and it had to be exempt from the UI's
Content-Security-Policy. This one has no inline script and fetches nothing
from another host, so it runs under the same policy as every other page."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

DOCS_DIR = Path(__file__).resolve().parents[1] / "docs"


def install(app: FastAPI) -> None:
    """/docs itself, and its files below /docs/ (the page's URLs are relative
    to /docs, so they stay right behind a proxy's path prefix)."""
    page = DOCS_DIR / "index.html"

    @app.api_route("/docs", methods=["GET", "HEAD"], include_in_schema=False)
    async def docs() -> FileResponse:
        return FileResponse(page, media_type="text/html")

    app.mount("/docs", StaticFiles(directory=DOCS_DIR), name="docs")
