"""GET /metrics: Prometheus's text format. The token guards it (as it does
/api) unless --metrics-public; a scraper sends it as a Bearer header."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from .deps import MetricsDep
from .openapi import errors

router = APIRouter(tags=["metrics"], responses=errors(401, 429))


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}})
def metrics(registry: MetricsDep) -> Response:
    """Queue depth, jobs by status, run durations and time to first step by model, model loads, workers,
    and each GPU's utilization and memory (NVML)."""
    return Response(registry.exposition(), media_type=CONTENT_TYPE_LATEST)
