"""Models, health."""

from __future__ import annotations

import os
import time
from typing import Any

import psutil
from fastapi import APIRouter, Request

from .. import __version__
from ..jobs.catalogue import ModelSpec
from ..spec.served import Capacity, ModelFacts, fields_json, legacy_keys
from ..workers.devices import gpu_telemetry
from .auth import verdict_of
from .deps import Bus, Devices, Downloads, Facts, Jobs, ModelsDep
from .openapi import errors
from .weights import weights_json

router = APIRouter(prefix="/api", tags=["system"])


def model_facts(spec: ModelSpec) -> ModelFacts:
    """The catalogue entry as the spec reads it: its data, and whether its backend retries out of memory."""
    return ModelFacts(id=spec.id, type=spec.type, backend=spec.backend, device_kind=spec.device_kind,
                      image_input=spec.image_input, oom_retry=spec.oom_retry,
                      defaults=spec.defaults, features=spec.features,
                      limits={name: rule.as_json() for name, rule in spec.limits.items()})


@router.get("/models", responses=errors(401, 429))
def list_models(models: ModelsDep, inventory: Devices, downloads: Downloads) -> list[dict[str, Any]]:
    """Each model with its `fields`: the per-job fields that apply to it, with its own defaults and bounds
    (what the web UI builds its form, details and card line from); `defaults`, `limits` and `options` are
    derived from the same spec for older clients."""
    out = []
    for spec in models.all():
        available, reason = models.availability(spec)
        # On Ray: the largest node's GPUs, or None while the cluster is out of reach.
        on_ray = inventory.elastic and spec.device_kind == "gpu"
        capacity = Capacity(inventory.capacity(spec.device_kind), "ray node" if on_ray else "server")
        facts = model_facts(spec)
        legacy = legacy_keys(facts, capacity)
        out.append({
            "id": spec.id,
            "label": spec.label,
            "type": spec.type,
            "backend": spec.backend,
            "device_kind": spec.device_kind,
            "available": available,
            "reason": reason,
            "description": spec.description,
            "defaults": legacy["defaults"],
            "limits": legacy["limits"],
            "weights": weights_json(downloads, spec),
            "image_input": spec.image_input,
            "features": sorted(spec.features),  # what a field may need of it (vsa: VSA sparsity applies)
            "options": legacy["options"],  # the job settings beyond the generation parameters that apply
            "fields": fields_json(facts, capacity),
        })
    return out


@router.get("/gpus", responses=errors(401, 429))
def gpus(jobs: Jobs, inventory: Devices) -> dict[str, Any]:
    """Per-GPU name, memory, utilization, temperature and the job holding it."""
    return gpu_telemetry(inventory, jobs.allocated())


@router.get("/health", responses=errors(429))
def health(request: Request, jobs: Jobs, facts: Facts, bus: Bus) -> dict[str, Any]:
    """Public, for probes; the details (devices, workers, jobs) only with credentials (a wrong one
    counts toward the lock-out, as anywhere: 429 while its address is locked out)."""
    status = jobs.cluster_status()  # degraded, not down, while Ray is out of reach
    if not verdict_of(request).authenticated:
        return {"status": status, "version": __version__}
    view = jobs.health_view()
    return {
        "status": status,
        "ray": view["ray"],
        "version": __version__,
        "pid": os.getpid(),
        "uptime_s": round(time.time() - facts.started_at, 1),
        "rss_bytes": psutil.Process().memory_info().rss,
        "devices": view["devices"],
        "workers": view["workers"],
        "jobs": view["jobs"],
        "fastvideo_installed": facts.fastvideo_installed,
        "event_subscribers": bus.subscriber_count,
    }
