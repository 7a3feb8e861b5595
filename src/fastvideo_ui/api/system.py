"""Models, health."""

from __future__ import annotations

import os
import time
from typing import Any

import psutil
from fastapi import APIRouter, Request

from .. import __version__
from ..jobs.catalogue import ModelSpec
from ..runtime import Runtime
from ..spec.served import Capacity, ModelFacts, fields_json, legacy_keys
from ..workers.devices import gpu_telemetry
from .auth import verdict_of
from .openapi import errors
from .weights import weights_json

router = APIRouter(prefix="/api", tags=["system"])


def runtime_of(request: Request) -> Runtime:
    return request.app.state.runtime


def model_facts(spec: ModelSpec) -> ModelFacts:
    """The catalogue entry as the spec reads it: its data, and whether its backend retries out of memory
    (jobs/run_end.py requeues a FastVideo job only)."""
    return ModelFacts(id=spec.id, type=spec.type, backend=spec.backend, device_kind=spec.device_kind,
                      image_input=spec.image_input, oom_retry=spec.backend == "fastvideo",
                      defaults=dict(spec.defaults, negative_prompt=spec.default_negative_prompt),
                      limits={name: rule.as_json() for name, rule in spec.limits.items()})


@router.get("/models", responses=errors(401, 429))
def list_models(request: Request) -> list[dict[str, Any]]:
    """Each model with its `fields`: the per-job fields that apply to it, with its own defaults and bounds
    (what the web UI builds its form, details and card line from); `defaults`, `limits` and `options` are
    derived from the same spec for older clients."""
    runtime = runtime_of(request)
    out = []
    for spec in runtime.models():
        available, reason = runtime.model_availability(spec)
        # On Ray: the largest node's GPUs, or None while the cluster is out of reach.
        on_ray = runtime.inventory.elastic and spec.device_kind == "gpu"
        capacity = Capacity(runtime.inventory.capacity(spec.device_kind), "ray node" if on_ray else "server")
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
            "weights": weights_json(runtime, spec),
            "image_input": spec.image_input,
            "options": legacy["options"],  # the job settings beyond the generation parameters that apply
            "fields": fields_json(facts, capacity),
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
