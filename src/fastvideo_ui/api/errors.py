"""Domain exceptions become HTTP answers here, and nowhere else."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ..jobs.service import QueueFull
from ..jobs.states import IllegalTransition
from ..jobs.store import JobNotFound


def install(app: FastAPI) -> None:
    @app.exception_handler(JobNotFound)
    async def _not_found(_request: Request, _exc: JobNotFound) -> JSONResponse:
        return JSONResponse({"detail": "Job not found"}, status_code=404)

    @app.exception_handler(QueueFull)
    async def _queue_full(_request: Request, exc: QueueFull) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=429, headers={"Retry-After": "60"})

    @app.exception_handler(IllegalTransition)
    async def _conflict(_request: Request, exc: IllegalTransition) -> JSONResponse:
        return JSONResponse(
            {"detail": str(exc), "status": exc.current.value, "action": exc.action.value},
            status_code=409,
        )
