"""A job's public JSON: the seed's fields, then this tool's additions.

One definition serves a single job (an ORM row) and a listing (plain tuples
straight from the database cursor, which is what lets the original's
unpaginated `GET /api/jobs` stay fast at tens of thousands of jobs).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..database.tables import JobRow
from ..urls import redacted
from .states import JobStatus, user_actions

# Columns a job's JSON carries as they are stored, in the order they appear there.
COPIED = (
    # the seed's fields, with the seed's types
    "id", "model_id", "prompt", "status", "created_at", "started_at", "finished_at", "error", "output_path",
    "log_file_path", "num_inference_steps", "num_frames", "height", "width", "guidance_scale", "seed",
    "num_gpus", "progress", "progress_msg", "phase", "dit_cpu_offload", "text_encoder_cpu_offload",
    "use_fsdp_inference",
    # additions
    "vae_cpu_offload", "dit_layerwise_offload", "fps", "negative_prompt", "queued_at", "step", "total_steps",
    "eta_seconds", "attempts", "priority", "held", "retry_on_oom", "remixed_from", "webhook_url", "image",
    "load_seconds",
)
# What a record holds: the copied columns, then those the JSON derives fields from.
RECORD_COLUMNS = (*COPIED, "devices", "poster_path")
# SQLite hands booleans back as 0 and 1; the JSON says true and false.
_FLAGS = ("dit_cpu_offload", "text_encoder_cpu_offload", "use_fsdp_inference", "vae_cpu_offload",
          "dit_layerwise_offload", "held", "retry_on_oom")
_ACTIONS = {status.value: tuple(user_actions(status)) for status in JobStatus}


def job_json(row: JobRow, queue_position: int | None = None) -> dict[str, Any]:
    return record_json(tuple(getattr(row, name) for name in RECORD_COLUMNS), queue_position)


def record_json(record: Sequence[Any], queue_position: int | None = None) -> dict[str, Any]:
    """A job's JSON from its RECORD_COLUMNS values."""
    job = dict(zip(COPIED, record, strict=False))  # the record ends with the derived-from columns
    for flag in _FLAGS:
        if job[flag] is not None:
            job[flag] = bool(job[flag])
    devices, poster_path = record[-2], record[-1]
    job_id = job["id"]
    job["queue_position"] = queue_position
    job["devices"] = devices.split(",") if devices else []
    job["actions"] = list(_ACTIONS[job["status"]])
    job["video_url"] = f"/api/jobs/{job_id}/video" if job["output_path"] else None
    job["poster_url"] = f"/api/jobs/{job_id}/poster" if poster_path else None
    job["log_url"] = f"/api/jobs/{job_id}/download_log"
    job["image_url"] = f"/api/uploads/{job['image']}" if job["image"] else None
    if job["webhook_url"]:  # the stored URL stays whole: the sender reads the row
        job["webhook_url"] = redacted(job["webhook_url"])
    return job


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
