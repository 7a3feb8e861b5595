"""A job's values for tests that build what the worker side is given
(GenerationRequest, a run message) without a server: every spec field set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastvideo_ui.backends.base import ModelConfig
from fastvideo_ui.spec.fields import JobParams
from fastvideo_ui.workers.protocol import RunJob

WAN = "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"


def job_params(**changes: Any) -> JobParams:
    values: dict[str, Any] = dict(
        model_id=WAN, prompt="a fox", negative_prompt="", num_inference_steps=4, num_frames=5, width=64,
        height=64, guidance_scale=1.0, seed=7, fps=16, num_gpus=1, dit_layerwise_offload=True,
        dit_cpu_offload=False, use_fsdp_inference=False, text_encoder_cpu_offload=True, vae_cpu_offload=True,
        priority=0, retry_on_oom=False, webhook_url=None, image=None)
    return JobParams(**{**values, **changes})


def run_message(home: Path, image: Path | None = None, job_id: str = "j1", **changes: Any) -> dict[str, Any]:
    """The supervisor's run message for job `job_id`, its files in `home`."""
    params = job_params(**changes)
    return RunJob(run_id=f"{job_id}#1", backend="fastvideo", model=ModelConfig.for_params(params), job_id=job_id,
                  params=params, output_path=home / f"{job_id}.mp4", poster_path=home / f"{job_id}.jpg",
                  uploads={} if image is None else {"image": image}).encode()
