"""Models, health."""

from __future__ import annotations

import os
import time
from typing import Any

import psutil
from fastapi import APIRouter, Request

from .. import __version__
from ..backends.offload import resolve_offload
from ..runtime import Runtime
from ..spec.fields import BY_NAME
from ..workers.devices import gpu_telemetry
from .auth import verdict_of
from .openapi import errors
from .weights import weights_json

router = APIRouter(prefix="/api", tags=["system"])
OFFLOAD_DEFAULTS, _ = resolve_offload({})  # what a job that names no offload option runs with
SEED_DEFAULT = BY_NAME["seed"].default  # written once, in the spec


def runtime_of(request: Request) -> Runtime:
    return request.app.state.runtime


@router.get("/models", responses=errors(401, 429))
def list_models(request: Request) -> list[dict[str, Any]]:
    runtime = runtime_of(request)
    out = []
    for spec in runtime.models():
        available, reason = runtime.model_availability(spec)
        limits = {name: rule.as_json() for name, rule in spec.limits.items()}
        # On Ray: the largest node's GPUs, or None while the cluster is out of reach.
        on_ray = runtime.inventory.elastic and spec.device_kind == "gpu"
        limits["num_gpus"] = {"min": 1, "max": runtime.inventory.capacity(spec.device_kind),
                              "scope": "ray node" if on_ray else "server"}
        out.append({
            "id": spec.id,
            "label": spec.label,
            "type": spec.type,
            "backend": spec.backend,
            "device_kind": spec.device_kind,
            "available": available,
            "reason": reason,
            "description": spec.description,
            "defaults": dict(spec.defaults, negative_prompt=spec.default_negative_prompt, seed=SEED_DEFAULT,
                             num_gpus=1, **OFFLOAD_DEFAULTS),
            "limits": limits,
            "weights": weights_json(runtime, spec),
            "image_input": spec.image_input,
            "options": list(spec.options),  # the job settings beyond the generation parameters that apply
        })
    return out


@router.get("/gpus", responses=errors(401, 429))
def gpus(request: Request) -> dict[str, Any]:
    """Per-GPU name, memory, utilization, temperature and the job holding it."""
    runtime = runtime_of(request)
    return gpu_telemetry(runtime.inventory, runtime.scheduler.snapshot().allocated)


@router.get("/health", responses=errors(429))
def health(request: Request) -> dict[str, Any]:
    """Public, for probes; the details (devices, workers, jobs) only with credentials (a wrong one
    counts toward the lock-out, as anywhere: 429 while its address is locked out)."""
    runtime = runtime_of(request)
    fleet = runtime.scheduler.supervisor.fleet
    # Degraded, not down: the API serves and takes jobs while Ray is out of reach.
    status = "degraded" if fleet is not None and not fleet.connected else "ok"
    if not verdict_of(request).authenticated:
        return {"status": status, "version": __version__}
    inventory = runtime.inventory
    snapshot = runtime.scheduler.snapshot()
    return {
        "status": status,
        "ray": fleet.status() if fleet is not None else None,  # null: local workers only
        "version": __version__,
        "pid": os.getpid(),
        "uptime_s": round(time.time() - runtime.started_at, 1),
        "rss_bytes": psutil.Process().memory_info().rss,
        "devices": {
            "gpus": list(inventory.gpus),
            "gpu_source": inventory.gpu_source,
            "gpu_reason": inventory.gpu_reason,
            "cpu_slots": list(inventory.cpu_slots),
            "allocated": snapshot.allocated,
        },
        "workers": snapshot.workers,
        "jobs": {
            "queued": len(runtime.store.queue_order()),
            "total": runtime.store.count(),
            "running": snapshot.running,
        },
        "fastvideo_installed": runtime.fastvideo_installed,
        "event_subscribers": runtime.bus.subscriber_count,
    }
