"""What a backend is given and what it must provide."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Protocol


class StopRequested(Exception):
    """Raised by `Reporter.check_stop` when the user asked the job to stop."""


@dataclass(frozen=True)
class ModelConfig:
    """Everything that decides which loaded model a job can reuse."""

    model_id: str
    num_gpus: int = 1
    # FastVideo 0.2.1's defaults (fastvideo_args.py). With dit_layerwise_offload
    # on, FastVideo turns dit_cpu_offload and use_fsdp_inference off; the job
    # service stores the values FastVideo will really use (jobs/offload.py).
    dit_cpu_offload: bool = False
    text_encoder_cpu_offload: bool = True
    vae_cpu_offload: bool = True
    use_fsdp_inference: bool = False
    dit_layerwise_offload: bool = True
    # FastVideo loads a different pipeline for an input image (from_pretrained's workload_type).
    workload_type: str = "t2v"

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GenerationRequest:
    """One video to make. Its generation parameters (GENERATION_FIELDS) are
    the one definition the layers carry whole: the job's columns, the worker
    message, and what a backend is given."""

    job_id: str
    prompt: str
    negative_prompt: str
    num_inference_steps: int
    num_frames: int
    height: int
    width: int
    guidance_scale: float
    seed: int
    fps: int
    output_path: Path  # where the finished MP4 must end up
    poster_path: Path  # where its JPEG poster must end up
    image_path: Path | None = None  # the input image (a PNG) of an image-to-video job


GENERATION_FIELDS = tuple(f.name for f in fields(GenerationRequest)
                          if f.name not in ("job_id", "output_path", "poster_path", "image_path"))


@dataclass(frozen=True)
class GenerationResult:
    video_path: Path
    poster_path: Path | None


class Reporter(Protocol):
    def phase(self, name: str) -> None: ...

    def step(self, index: int, total: int) -> None: ...

    def check_stop(self) -> None:
        """Raise StopRequested if a stop was asked for; call it between steps."""


class Backend(Protocol):
    def load(self, config: ModelConfig, reporter: Reporter) -> None: ...

    def generate(self, request: GenerationRequest, reporter: Reporter) -> GenerationResult: ...

    def unload(self) -> None: ...
