"""Request bodies and the 422 shape (FastAPI's own, so every error names its field)."""

from __future__ import annotations

import difflib
from typing import Any, Literal

from fastapi import HTTPException
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..prompts import prompt_problem

MAX_PROMPT_CHARS = 10_000
MAX_SEED = 2**32 - 1
MIN_PRIORITY, MAX_PRIORITY = -100, 100


class StrictBody(BaseModel):
    """A body that refuses a field it does not know (a 422 naming it): a
    misspelt `num_inference_step` must not quietly run a job with the model's
    default steps on a GPU."""

    model_config = ConfigDict(extra="forbid")

    @classmethod
    def unknown_field(cls, name: str) -> str:
        close = difflib.get_close_matches(name, list(cls.model_fields), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else f"; the fields are {', '.join(cls.model_fields)}"
        return f"unknown field{hint}"


class CreateJobRequest(StrictBody):
    """The seed's body, plus `start`, `fps`, `negative_prompt`, `vae_cpu_offload`, `dit_layerwise_offload`,
    `priority`, `retry_on_oom` and `webhook_url`.

    Omitted generation parameters take the chosen model's defaults.
    """

    model_id: str = Field(min_length=1, max_length=200)
    prompt: str = Field(max_length=MAX_PROMPT_CHARS)
    negative_prompt: str | None = Field(default=None, max_length=MAX_PROMPT_CHARS)
    num_inference_steps: int | None = Field(default=None, ge=1)
    num_frames: int | None = Field(default=None, ge=1)
    height: int | None = Field(default=None, ge=8, multiple_of=8)
    width: int | None = Field(default=None, ge=8, multiple_of=8)
    guidance_scale: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    seed: int = Field(default=1024, ge=0, le=MAX_SEED)
    fps: int | None = Field(default=None, ge=1)
    num_gpus: int = Field(default=1, ge=1)
    # Memory offload, as FastVideo means it (backends/offload.py); omitted: FastVideo's default.
    dit_layerwise_offload: bool | None = None
    dit_cpu_offload: bool | None = None
    text_encoder_cpu_offload: bool | None = None
    vae_cpu_offload: bool | None = None
    use_fsdp_inference: bool | None = None
    start: bool = False
    # Queue order: higher first (then first come, first served).
    priority: int = Field(default=0, ge=MIN_PRIORITY, le=MAX_PRIORITY)
    # Out of memory: queue the job again once, first, with every offload on.
    retry_on_oom: bool = False
    # Where this job's started/completed/failed/stopped events are posted (else --webhook-url).
    webhook_url: str | None = Field(default=None, max_length=2000)
    # The input image, for a model that takes one: the id POST /api/uploads gave.
    image: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")

    @field_validator("prompt")
    @classmethod
    def _prompt_has_text(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be empty")
        return one_line_only(value)

    @field_validator("negative_prompt")
    @classmethod
    def _negative_prompt_is_one_line(cls, value: str | None) -> str | None:
        return value if value is None else one_line_only(value)


def one_line_only(value: str) -> str:
    """A prompt, or ValueError: FastVideo echoes it where progress is read (prompts.py)."""
    problem = prompt_problem(value)
    if problem:
        raise ValueError(problem)
    return value


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
