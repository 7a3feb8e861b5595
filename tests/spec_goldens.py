"""The create request and the documented Job exactly as they were written by
hand before the job spec (api/schemas.py and api/openapi.py at the base):
the goldens the derived models (api/spec_models.py) are held to."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

from fastvideo_ui.api.strict import StrictBody
from fastvideo_ui.prompts import prompt_problem
from fastvideo_ui.spec.fields import FIELDS

# The per-job fields added since these goldens were written: each is stored in the params JSON (the
# goldens' fields all have columns). A golden holds the fields it knew exactly; these may stand beside them.
ADDED = frozenset(f.name for f in FIELDS if f.storage == "json")

MAX_PROMPT_CHARS = 10_000
MAX_SEED = 2**32 - 1
MIN_PRIORITY, MAX_PRIORITY = -100, 100


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


class Job(BaseModel):
    """A job as GET /api/jobs/{id} returns it (documentation: routes return job_json's dict)."""

    id: str = Field(description="a UUID")
    model_id: str
    prompt: str
    status: Literal["pending", "queued", "running", "completed", "failed", "stopped"]
    created_at: float = Field(description="Unix time")
    started_at: float | None
    finished_at: float | None
    error: str | None = Field(description="why it failed or stopped, in one line")
    output_path: str | None = Field(description="the video's absolute path on the server (a seed field)")
    log_file_path: str | None = Field(description="the log's absolute path on the server (a seed field)")
    num_inference_steps: int
    num_frames: int
    height: int
    width: int
    guidance_scale: float
    seed: int
    num_gpus: int
    progress: float = Field(description="0 to 100")
    progress_msg: str
    phase: str
    dit_cpu_offload: bool
    text_encoder_cpu_offload: bool
    use_fsdp_inference: bool
    vae_cpu_offload: bool
    dit_layerwise_offload: bool = Field(description="FastVideo's layer-by-layer DiT offload; while on, "
                                        "dit_cpu_offload and use_fsdp_inference are off")
    fps: int
    negative_prompt: str
    queued_at: float | None = Field(description="when it was last queued: a start, or a return to the queue "
                                    "(a graceful shutdown, a lost machine, an out-of-memory retry)")
    queue_position: int | None = Field(description="1-based place in its device pool's queue")
    devices: list[str]
    step: int | None
    total_steps: int | None
    eta_seconds: float | None
    attempts: int = Field(description="runs so far, an out-of-memory retry included")
    load_seconds: float | None = Field(description="how long its latest run spent loading the model; null: the "
                                       "worker already held it, or it has not run")
    priority: int = Field(description="higher runs first, -100 to 100")
    held: bool = Field(description="queued but held: it keeps its place and does not start until released")
    retry_on_oom: bool = Field(description="out of memory: queued again once, first, with every offload on")
    remixed_from: str | None = Field(description="the job this one remixes (POST /v1/videos/{id}/remix)")
    # Issue 26: a record key (not a per-job field), what its latest run warned of.
    warnings: list[str] = Field(description="what its latest run warned about, one line each (a LoRA that "
                                "matched no layer of the model, say); also in its log")
    # Issue 27: record keys, what the scheduler expected of its latest run, and whence.
    estimate_seconds: float | None = Field(description="the run time the scheduler expected of its latest run, "
                                           "model load included, erring long (it plans backfilling with it; a "
                                           "prior, from the model's size alone, may err either way); null: no "
                                           "estimate, or it has not run")
    estimate_source: Literal["same_shape", "scaled", "other_model", "prior"] | None = Field(
        description="where that estimate came from: runs of its model at its very shape; its model's other "
                    "runs, scaled (by their own seconds per step, else by pixels x frames x steps) and by GPU "
                    "count; another model's runs, scaled too and by parameter count; or a prior from its "
                    "model's parameter count")
    # Issue 28: record keys, the sweep that made it and its star.
    sweep_id: str | None = Field(description="the sweep that made it (GET /api/sweeps/{id} gives its coords)")
    starred: bool = Field(description="a favourite: POST and DELETE /api/jobs/{id}/star set it")
    webhook_url: str | None = Field(description="where this job's events are posted; null: the server's default. "
                                                "Shown redacted: a password and query values read ***")
    image: str | None = Field(description="the input image's upload id (image-to-video)")
    image_url: str | None = Field(description="the input image, as stored")
    actions: list[str] = Field(description="what the user may do now: start, stop, delete")
    video_url: str | None
    poster_url: str | None
    log_url: str
