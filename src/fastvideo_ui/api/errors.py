"""Domain exceptions become HTTP answers here, and nowhere else."""

from __future__ import annotations

import json
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from ..jobs.params import InvalidParams
from ..jobs.presets import PresetNameTaken, PresetNotFound, TooManyPresets
from ..jobs.service import NotInQueue, NotQueued, QueueFull
from ..jobs.states import IllegalTransition
from ..jobs.store import JobNotFound
from ..jobs.sweep_plan import InvalidSweep
from ..jobs.sweep_store import SweepNotFound
from .asgi import openai_path
from .schemas import StrictBody
from .video_shape import OpenAIError


def _json_safe(value: Any) -> bool:
    """Whether `value` can go out as strict JSON in UTF-8 (no NaN, Infinity or lone surrogate)."""
    try:
        json.dumps(value, allow_nan=False, ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError):
        return False
    return True


def _describe(value: Any) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return "a string that is not valid UTF-8 (a lone surrogate)" if isinstance(value, str) else type(value).__name__


# Pydantic's prefix on a validator's ValueError: its message alone says it ("must not be empty").
_VALUE_ERROR_PREFIX = "Value error, "


def _body_model(request: Request) -> type[StrictBody] | None:
    """The route's body model, when it is one that refuses unknown fields."""
    body = getattr(request.scope.get("route"), "body_field", None)
    model = getattr(getattr(body, "field_info", None), "annotation", None)
    return model if isinstance(model, type) and issubclass(model, StrictBody) else None


def validation_detail(errors: Any, body: type[StrictBody] | None = None) -> list[dict[str, Any]]:
    """FastAPI's 422 detail, made strict JSON: an input (or context) that cannot
    be sent back is described instead of crashing the answer into a 500. An
    unknown field of `body` says which field was perhaps meant."""
    detail = []
    for error in errors:
        error = dict(error)
        loc = list(error.get("loc") or ())
        if error.get("type") == "extra_forbidden" and body is not None and len(loc) == 2 and loc[0] == "body":
            error["msg"] = body.unknown_field(str(loc[1]))
        if error.get("type") == "value_error" and str(error.get("msg", "")).startswith(_VALUE_ERROR_PREFIX):
            error["msg"] = error["msg"][len(_VALUE_ERROR_PREFIX):]
        if "input" in error and not _json_safe(error["input"]):
            error["input"] = _describe(error["input"])
        if "ctx" in error and not _json_safe(error["ctx"]):
            error["ctx"] = {key: str(value) for key, value in error["ctx"].items()}
        detail.append(error)
    return detail


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = validation_detail(exc.errors(), _body_model(request))
        if openai_path(request.url.path):  # OpenAI's shape, for OpenAI's clients
            first = detail[0]
            param = ".".join(str(part) for part in first["loc"][1:]) or None
            return OpenAIError(400, f"{param}: {first['msg']}", param, "invalid_value").response()
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        """Starlette's own answers (a body too large as it is read, a form or
        JSON it cannot parse) in OpenAI's shape under /v1."""
        if not openai_path(request.url.path):
            return await http_exception_handler(request, exc)
        response = OpenAIError(exc.status_code, str(exc.detail)).response()
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(OpenAIError)
    async def _openai(_request: Request, exc: OpenAIError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(JobNotFound)
    async def _not_found(_request: Request, _exc: JobNotFound) -> JSONResponse:
        return JSONResponse({"detail": "Job not found"}, status_code=404)

    @app.exception_handler(PresetNotFound)
    async def _no_preset(_request: Request, _exc: PresetNotFound) -> JSONResponse:
        return JSONResponse({"detail": "Preset not found"}, status_code=404)

    @app.exception_handler(PresetNameTaken)
    async def _name_taken(_request: Request, exc: PresetNameTaken) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "name": exc.name}, status_code=409)

    @app.exception_handler(TooManyPresets)
    async def _too_many_presets(_request: Request, exc: TooManyPresets) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(SweepNotFound)
    async def _no_sweep(_request: Request, _exc: SweepNotFound) -> JSONResponse:
        return JSONResponse({"detail": "Sweep not found"}, status_code=404)

    @app.exception_handler(InvalidSweep)
    async def _invalid_sweep(_request: Request, exc: InvalidSweep) -> JSONResponse:
        detail = [{"type": "value_error", "loc": ["body", *loc], "msg": message} for loc, message in exc.errors]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(QueueFull)
    async def _queue_full(_request: Request, exc: QueueFull) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=429, headers={"Retry-After": "60"})

    @app.exception_handler(InvalidParams)
    async def _invalid_params(_request: Request, exc: InvalidParams) -> JSONResponse:
        detail = [{"type": "value_error", "loc": ["body", field], "msg": message} for field, message in exc.errors]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(NotInQueue)
    async def _not_in_queue(_request: Request, exc: NotInQueue) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "status": exc.status, "action": exc.action}, status_code=409)

    @app.exception_handler(NotQueued)
    async def _not_queued(_request: Request, exc: NotQueued) -> JSONResponse:
        return JSONResponse({"detail": [{"type": "value_error", "loc": ["body", exc.field], "msg": str(exc)}]},
                            status_code=422)

    @app.exception_handler(IllegalTransition)
    async def _conflict(_request: Request, exc: IllegalTransition) -> JSONResponse:
        return JSONResponse(
            {"detail": str(exc), "status": exc.current.value, "action": exc.action.value},
            status_code=409,
        )
