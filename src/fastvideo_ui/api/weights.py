"""A FastVideo model's weights in the Hugging Face cache: fetch them ahead of a
job (progress as `download` events on /api/events), cancel, and delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ..backends.registry import backend_spec
from ..jobs.catalogue import ModelSpec
from ..weights.cache import cached_weights, delete_weights, weights_in_use
from ..weights.downloads import DownloadManager
from .deps import Downloads, Jobs, Models, ModelsDep
from .openapi import ErrorBody, errors

router = APIRouter(prefix="/api/models", tags=["weights"], responses=errors(401, 429))


class DownloadState(BaseModel):
    model_id: str
    status: str = Field(description="waiting (for a free slot: --max-downloads), starting, downloading, done, "
                                    "failed or cancelled")
    bytes_done: int
    bytes_total: int | None
    rate_bytes_per_s: int | None
    eta_seconds: float | None
    error: str | None
    started_at: float
    finished_at: float | None


class Weights(BaseModel):
    cached: bool = Field(description="a whole snapshot is in the cache: a job can load it without the network")
    size_bytes: int = Field(description="on disk, partial files included")
    partial_bytes: int
    download: DownloadState | None


class Deleted(BaseModel):
    model_id: str
    freed_bytes: int


def _with_weights(models: Models, model_id: str) -> ModelSpec | JSONResponse:
    """The model, or the 404 saying why it has no weights to fetch."""
    spec = models.find(model_id)
    if spec is None:
        return JSONResponse({"detail": f"unknown model {model_id!r}; GET /api/models lists them"}, status_code=404)
    if not backend_spec(spec.backend).needs_weights:
        return JSONResponse({"detail": f"{model_id} has no weights to fetch: it is {spec.label}"}, status_code=404)
    return spec


def weights_json(downloads: DownloadManager, spec: ModelSpec) -> dict[str, Any] | None:
    """What /api/models says of a model's weights (None for the preview renderer)."""
    if not backend_spec(spec.backend).needs_weights:
        return None
    found = cached_weights(downloads.cache(), spec.id)
    return {"cached": found.cached, "size_bytes": found.size_bytes, "partial_bytes": found.partial_bytes,
            "download": downloads.state(spec.id)}


@router.get("/{model_id:path}/weights", response_model=Weights, responses=errors(404))
def model_weights(models: ModelsDep, downloads: Downloads, model_id: str) -> Any:
    spec = _with_weights(models, model_id)
    if isinstance(spec, JSONResponse):
        return spec
    return weights_json(downloads, spec)


@router.post("/{model_id:path}/download", status_code=202, response_model=DownloadState, responses=errors(404))
async def start_download(models: ModelsDep, downloads: Downloads, model_id: str) -> Any:
    """Fetch the weights into the cache now (a disk-space check first). Asking
    again while it runs answers with the download under way; after a cancel or
    a failure it resumes, keeping the files already fetched."""
    refused = _with_weights(models, model_id)
    if isinstance(refused, JSONResponse):
        return refused
    return downloads.start(model_id).as_json()


@router.delete("/{model_id:path}/download", response_model=DownloadState,
               responses={**errors(404), 409: {"model": ErrorBody, "description": "no download of it is running"}})
async def cancel_download(models: ModelsDep, downloads: Downloads, model_id: str) -> Any:
    refused = _with_weights(models, model_id)
    if isinstance(refused, JSONResponse):
        return refused
    cancelled = await downloads.cancel(model_id)
    if cancelled is None:
        return JSONResponse({"detail": f"no download of {model_id} is running"}, status_code=409)
    return cancelled.as_json()


@router.delete("/{model_id:path}/weights", response_model=Deleted,
               responses={**errors(404), 409: {"model": ErrorBody, "description": "a job or a download uses the repo"}})
async def remove_weights(jobs: Jobs, models: ModelsDep, downloads: Downloads, model_id: str) -> Any:
    """Delete the model's weights from the cache: its whole hub repo, so for an
    `org/repo/subfolder` id the sibling subfolders' models lose theirs too.
    Refused while a job runs with, or a download fetches, any model of that repo."""
    refused = _with_weights(models, model_id)
    if isinstance(refused, JSONResponse):
        return refused
    # A running job may still be fetching, or loading, the weights. An idle
    # worker that keeps the model loaded holds it in memory, not on disk:
    # deleting the files leaves it able to run the model's next job.
    in_use = weights_in_use(model_id, jobs.running_models(), downloads.active_models())
    if in_use:
        return JSONResponse({"detail": f"cannot delete the weights of {model_id}: {in_use}"}, status_code=409)
    freed = delete_weights(downloads.cache(), model_id)
    return {"model_id": model_id, "freed_bytes": freed}

