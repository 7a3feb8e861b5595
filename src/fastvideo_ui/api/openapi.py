"""The error bodies every route can answer with, so /openapi.json describes them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from ..spec.fields import FIELDS
from .spec_models import JobRecord, job_model


class ErrorBody(BaseModel):
    detail: str = Field(description="what went wrong, in words")


class ConflictBody(BaseModel):
    detail: str
    status: str = Field(description="the job's status when the action was refused")
    action: str = Field(description="the refused action")


class FieldError(BaseModel):
    type: str
    loc: list[str | int] = Field(description='where: ["body", field], ["query", name], ...')
    msg: str


class ValidationErrorBody(BaseModel):
    detail: list[FieldError]


def _header(description: str, type_: str = "string") -> dict[str, Any]:
    return {"description": description, "required": True, "schema": {"type": type_}}


def _error(description: str, model: type[BaseModel] = ErrorBody, **headers: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = {"model": model, "description": description}
    if headers:
        answer["headers"] = {name.replace("_", "-"): header for name, header in headers.items()}
    return answer


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _error("the body is not text FastAPI can decode (e.g. not UTF-8)"),
    401: _error("no valid token or session (only when the server has an API token)",
                WWW_Authenticate=_header('Bearer realm="fastvideo-ui"')),
    404: _error("no such job, or it has no such file yet"),
    409: _error("the job's state does not allow this action", ConflictBody),
    413: _error("the request body is over the size cap"),
    422: _error("a field breaks a rule; each item names the field and the rule", ValidationErrorBody),
    415: _error("the body is not of a type this route takes"),
    429: _error("the queue is full (create, start), or this address sent too many wrong tokens",
                Retry_After=_header("seconds to wait before trying again", "integer")),
}


class OpenAIErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = Field(description="the request field at fault")
    code: str | None


class OpenAIErrorBody(BaseModel):
    error: OpenAIErrorDetail


def openai_errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """/v1's errors, in OpenAI's shape."""
    described = {400: "a field breaks a rule (`param` names it)", 401: "no valid API token (only when one is set)",
                 404: "no such video, or it has no such file yet", 409: "the video's state does not allow this",
                 413: "the body is over its cap: 256 KiB as JSON, a form with its image 32 MiB more",
                 429: "the queue is full, or this address sent too many wrong tokens"}
    return {code: {"model": OpenAIErrorBody, "description": described[code]} for code in codes}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: ERROR_RESPONSES[code] for code in codes}


# A job as GET /api/jobs/{id} returns it: the record (spec_models.JobRecord, hand-written once)
# and a property per spec field (documentation: routes return job_json's dict).
if TYPE_CHECKING:  # mypy cannot see a model built at run time: to it, the record
    class Job(JobRecord): ...
else:
    Job = job_model(FIELDS)


class DeletedBody(BaseModel):
    detail: str


class LogPage(BaseModel):
    lines: list[str]
    total: int = Field(description="lines in the log so far")
    next_after: int = Field(description="pass as ?after= to continue")
    progress: float
    progress_msg: str
    phase: str


def returns(model: Any, *codes: int, status: int = 200,
            headers: dict[str, Any] | None = None) -> dict[int | str, dict[str, Any]]:
    """Responses for a route that returns plain dicts: `model` documents the body,
    and the dicts go out as they are (no second validation on every request)."""
    success: dict[str, Any] = {"model": model}
    if headers:
        success["headers"] = headers
    return {status: success, **errors(*codes)}


PAGE_HEADERS: dict[str, Any] = {
    "X-Total-Count": _header("jobs matching the filters, on every page", "integer"),
    "Link": {"description": '<...?before=ID>; rel="next", when the page is full', "schema": {"type": "string"}},
    "X-Next-Before": {"description": "the `before` for the next page, when the page is full",
                      "schema": {"type": "string"}},
}
