"""Request bodies and the 422 shape (FastAPI's own, so every error names its field)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from fastapi import HTTPException
from pydantic import Field, model_validator

from ..spec.fields import FIELDS, MAX_PROMPT_CHARS, MAX_PRIORITY, MAX_SEED, MIN_PRIORITY
from .spec_models import request_model
from .strict import StrictBody

__all__ = ["MAX_PROMPT_CHARS", "MAX_SEED", "CreateJobRequest", "MoveRequest", "PriorityRequest", "StrictBody",
           "field_errors"]

# The create body is derived from the job spec (one definition of every per-job field, its
# bounds and checks); `start`, an instruction to the create call, is its one extra.
if TYPE_CHECKING:  # mypy cannot see a model built at run time: to it, a strict body and its `start`
    class CreateJobRequest(StrictBody):
        start: bool
else:
    CreateJobRequest = request_model(FIELDS)


class MoveRequest(StrictBody):
    """Where to put a queued job: `to` the top or bottom, or just `before` another queued job."""

    to: Literal["top", "bottom"] | None = None
    before: str | None = None

    @model_validator(mode="after")
    def _one_place(self) -> "MoveRequest":
        if (self.to is None) == (self.before is None):
            raise ValueError("give exactly one of `to` (top or bottom) and `before` (a queued job's id)")
        return self


class PriorityRequest(StrictBody):
    priority: int = Field(ge=MIN_PRIORITY, le=MAX_PRIORITY)


def field_errors(errors: list[tuple[str, str]]) -> HTTPException:
    """A 422 in the same shape FastAPI gives for a body that fails validation."""
    detail: list[dict[str, Any]] = [
        {"type": "value_error", "loc": ["body", name], "msg": message} for name, message in errors
    ]
    return HTTPException(status_code=422, detail=detail)
