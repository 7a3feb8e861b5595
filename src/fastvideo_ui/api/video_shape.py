"""Between OpenAI's video shape and a job: pure functions, no HTTP."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi.responses import JSONResponse

from ..backends.registry import backend_spec
from ..jobs.catalogue import ModelSpec, Range, check_params
from ..jobs.params import InvalidParams
from ..spec.fields import FIELDS, FieldSpec, OpenAi

if TYPE_CHECKING:
    from .deps import Models

# The fields with a name of their own in OpenAI's API (the spec's `openai`), as its conversions
# run: a size first, then seconds (counted at the fps the request ends with).
_ORDER = {"size": 0, "seconds": 1, "file": 2}
ALIASED: tuple[tuple[FieldSpec, OpenAi], ...] = tuple(sorted(
    ((f, f.openai) for f in FIELDS if f.openai is not None), key=lambda pair: _ORDER[pair[1].kind]))
DURATION = next(f for f, alias in ALIASED if alias.kind == "seconds")
# input_reference, OpenAI's file, and the job field that names it once stored as an upload.
UPLOAD_FIELD, REFERENCE = next((f.name, alias.name) for f, alias in ALIASED if alias.kind == "file")
OPENAI_FIELDS = ("prompt", "model", *(f.openai.name for f in FIELDS if f.openai is not None))
MAX_SECONDS = 120.0
_SIZE = re.compile(r"^\s*(\d{1,5})\s*[xX×]\s*(\d{1,5})\s*$")
# A job's status, as OpenAI's four.
_STATUS = {"pending": "queued", "queued": "queued", "running": "in_progress", "completed": "completed",
           "failed": "failed", "stopped": "failed"}


def printable(text: str) -> str:
    """`text`, with a lone surrogate (which JSON may carry but UTF-8 cannot)
    written as its escape `\\ud800`, so echoing a client's field name never
    breaks the answer."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class OpenAIError(Exception):
    """An answer in OpenAI's error shape."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 kind: str = "invalid_request_error") -> None:
        message, param = printable(message), None if param is None else printable(param)
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.kind = status, message, param, code, kind

    def response(self) -> JSONResponse:
        body = {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}
        return JSONResponse(body, status_code=self.status)


def video_json(job: dict[str, Any]) -> dict[str, Any]:
    """A job's JSON (serialize.job_json) as OpenAI's video object."""
    status = _STATUS[job["status"]]
    error = None
    if job["status"] == "failed":
        error = {"code": "generation_failed", "message": job["error"] or "the job failed"}
    elif job["status"] == "stopped":
        error = {"code": "stopped", "message": job["error"] or "stopped before it finished"}
    completed = job["status"] == "completed"
    fps = job["fps"] or 16
    return {
        "id": job["id"],
        "object": "video",
        "created_at": int(job["created_at"]),
        "completed_at": int(job["finished_at"]) if completed and job["finished_at"] else None,
        "expires_at": None,  # kept until deleted
        "model": job["model_id"],
        "progress": 100 if completed else int(job["progress"] or 0),
        "prompt": job["prompt"],
        "remixed_from_video_id": job["remixed_from"],
        **{alias.name: _openai_value(job, f, alias, fps) for f, alias in _IN_VIDEO},
        "status": status,
        "error": error,
    }


# What the video object says of them, in the spec's order (seconds, then size).
_IN_VIDEO = tuple((f, f.openai) for f in FIELDS if f.openai is not None and f.openai.kind != "file")


def _openai_value(job: dict[str, Any], f: FieldSpec, alias: OpenAi, fps: int) -> str:
    """A field's value as OpenAI's video object says it: seconds as text ("5.06"), a size "832x480"."""
    if alias.kind == "seconds":
        return f"{job[f.name] / fps:.2f}".rstrip("0").rstrip(".")
    return "x".join(str(job[name]) for name in alias.sets)


def default_model(models: Models) -> str:
    """The model a request without `model` gets: the first FastVideo model this
    server can run, else the first it can run at all (the preview renderer)."""
    runnable = [spec for spec in models.all() if models.availability(spec)[0]]
    for spec in runnable:
        if backend_spec(spec.backend).real_model:
            return spec.id
    return runnable[0].id if runnable else ""


def _nearest_multiple(value: float, multiple: int) -> int:
    return max(multiple, int(round(value / multiple)) * multiple)


def _nearest_frames(frames: float, rule: Range) -> int:
    if not rule.modulus:
        return max(1, int(round(frames)))
    k = max(0, int(round((frames - rule.remainder) / rule.modulus)))
    return k * rule.modulus + rule.remainder


def size_params(spec: ModelSpec, size: Any, alias: OpenAi) -> dict[str, int]:
    """WIDTHxHEIGHT for the alias's `sets` fields, each rounded to the nearest the model takes."""
    match = _SIZE.match(size) if isinstance(size, str) else None
    if not match:
        raise InvalidParams([(alias.name, f"must be WIDTHxHEIGHT, such as 832x480, not {size!r}")])
    return {name: _nearest_multiple(int(match.group(at + 1)), spec.limits[name].multiple_of or 1)
            for at, name in enumerate(alias.sets)}


def frames_for(spec: ModelSpec, seconds: Any, fps: int, field: FieldSpec = DURATION) -> int:
    """Seconds of video at `fps`, as the nearest count of `field` (the frames) the model takes."""
    try:
        value = float(seconds)
    except OverflowError:  # an integer past a float's range: out of range below
        value = math.inf
    except (TypeError, ValueError):
        raise InvalidParams([("seconds", f"must be a number of seconds, such as 4, not {seconds!r}")]) from None
    if not 0 < value <= MAX_SECONDS:  # also refuses NaN
        raise InvalidParams([("seconds", f"must be more than 0 and at most {MAX_SECONDS:g}")])
    # The frame count is only as good as the fps it is counted at.
    problems = check_params(spec, {"fps": fps}, None)
    if problems:
        raise InvalidParams([(problem.field, problem.message) for problem in problems])
    return _nearest_frames(value * fps, spec.limits[field.name])


def asked_from_openai(find: Callable[[str], ModelSpec | None], asked: dict[str, Any],
                      given: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The create request's fields with OpenAI's own (`given` by their names:
    `size`, `seconds`) turned into the model's fields (explicit ones win), and
    which job field came from which OpenAI one, so an error names the field
    the client sent. `find`: the served model of an id (the catalogue's)."""
    spec = find(asked["model_id"])
    if spec is None:
        raise InvalidParams([("model_id", f"unknown model {asked['model_id']!r}; GET /api/models lists them")])
    renamed: dict[str, str] = {"model_id": "model"}
    for f, alias in ALIASED:
        value = given.get(alias.name)
        if value is None or alias.kind == "file":  # a file is stored by the route, once all else passed
            continue
        if alias.kind == "size":
            if not isinstance(value, str):
                raise InvalidParams([(alias.name, "must be a string WIDTHxHEIGHT")])
            for name, size in size_params(spec, value, alias).items():
                if asked.get(name) is None:
                    asked[name] = size
                    renamed[name] = alias.name
        elif alias.kind == "seconds" and asked.get(f.name) is None:
            asked[f.name] = frames_for(spec, value, asked.get("fps") or spec.defaults["fps"], f)
            renamed[f.name] = alias.name
    return asked, renamed
