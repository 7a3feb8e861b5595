"""A job's public JSON: the seed's fields, then this tool's additions."""

from __future__ import annotations

from typing import Any

from .models import JobRow
from .states import JobStatus, user_actions


def job_json(row: JobRow, queue_position: int | None = None) -> dict[str, Any]:
    return {
        # the seed's fields, with the seed's types
        "id": row.id,
        "model_id": row.model_id,
        "prompt": row.prompt,
        "status": row.status,
        "created_at": row.created_at,
        "started_at": row.started_at,
        "finished_at": row.finished_at,
        "error": row.error,
        "output_path": row.output_path,
        "log_file_path": row.log_file_path,
        "num_inference_steps": row.num_inference_steps,
        "num_frames": row.num_frames,
        "height": row.height,
        "width": row.width,
        "guidance_scale": row.guidance_scale,
        "seed": row.seed,
        "num_gpus": row.num_gpus,
        "progress": row.progress,
        "progress_msg": row.progress_msg,
        "phase": row.phase,
        "dit_cpu_offload": row.dit_cpu_offload,
        "text_encoder_cpu_offload": row.text_encoder_cpu_offload,
        "use_fsdp_inference": row.use_fsdp_inference,
        # additions
        "vae_cpu_offload": row.vae_cpu_offload,
        "dit_layerwise_offload": row.dit_layerwise_offload,
        "fps": row.fps,
        "negative_prompt": row.negative_prompt,
        "queued_at": row.queued_at,
        "queue_position": queue_position,
        "devices": row.devices.split(",") if row.devices else [],
        "step": row.step,
        "total_steps": row.total_steps,
        "eta_seconds": row.eta_seconds,
        "attempts": row.attempts,
        "actions": user_actions(JobStatus(row.status)),
        "video_url": f"/api/jobs/{row.id}/video" if row.output_path else None,
        "poster_url": f"/api/jobs/{row.id}/poster" if row.poster_path else None,
        "log_url": f"/api/jobs/{row.id}/download_log",
    }


def progress_json(row: JobRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "status": row.status,
        "progress": row.progress,
        "progress_msg": row.progress_msg,
        "phase": row.phase,
        "step": row.step,
        "total_steps": row.total_steps,
        "eta_seconds": row.eta_seconds,
    }
