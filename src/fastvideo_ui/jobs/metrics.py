"""Prometheus metrics. Events (a run's length, its first step, a model load)
are counted as they happen; state (the queue, jobs by status, workers, GPUs)
is read when Prometheus scrapes. Each server has its own registry."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..workers.devices import Inventory, gpu_telemetry
from .states import JobStatus
from .store import JobStore

# Video generation runs from seconds (the preview) to hours.
DURATION_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400)
FIRST_STEP_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1200)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.run_seconds = Histogram(
            "fastvideo_ui_job_duration_seconds", "A completed run's time from dispatch to its video, by model",
            ["model"], buckets=DURATION_BUCKETS, registry=self.registry)
        self.first_step_seconds = Histogram(
            "fastvideo_ui_time_to_first_step_seconds",
            "From dispatch to the first denoising step (worker start and model load included), by model",
            ["model"], buckets=FIRST_STEP_BUCKETS, registry=self.registry)
        self.model_loads = Counter(
            "fastvideo_ui_model_loads", "Models loaded by workers, by model", ["model"], registry=self.registry)
        self.runs_ended = Counter(
            "fastvideo_ui_runs_ended", "Runs that ended, by model and how (completed, failed, stopped, retried)",
            ["model", "outcome"], registry=self.registry)

    def watch(self, store: JobStore, inventory: Inventory, workers: Callable[[], list[dict[str, Any]]],
              paused: Callable[[], bool], ray_up: Callable[[], bool] | None = None) -> None:
        """Read the server's state at each scrape. `ray_up`: with --ray, whether the cluster is reachable."""
        self.registry.register(_StateCollector(store, inventory, workers, paused, ray_up))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _StateCollector(Collector):
    def __init__(self, store: JobStore, inventory: Inventory, workers: Callable[[], list[dict[str, Any]]],
                 paused: Callable[[], bool], ray_up: Callable[[], bool] | None) -> None:
        self.store = store
        self.inventory = inventory
        self.workers = workers
        self.paused = paused
        self.ray_up = ray_up

    def collect(self) -> Iterator[Metric]:
        queue = self.store.queue_order()
        depth = GaugeMetricFamily("fastvideo_ui_queue_depth", "Queued jobs (held ones included)")
        depth.add_metric([], len(queue))
        yield depth
        held = GaugeMetricFamily("fastvideo_ui_queue_held", "Queued jobs on hold")
        held.add_metric([], sum(1 for job in queue if job.held))
        yield held
        paused = GaugeMetricFamily("fastvideo_ui_queue_paused", "1 while the queue is paused")
        paused.add_metric([], 1 if self.paused() else 0)
        yield paused
        by_status = GaugeMetricFamily("fastvideo_ui_jobs", "Stored jobs by status", labels=["status"])
        counts = self.store.count_by_status()
        for status in JobStatus:
            by_status.add_metric([status.value], counts.get(status.value, 0))
        yield by_status
        workers = GaugeMetricFamily("fastvideo_ui_workers", "Worker processes, busy or idle", labels=["state"])
        described = self.workers()
        busy = sum(1 for worker in described if worker["job_id"])
        workers.add_metric(["busy"], busy)
        workers.add_metric(["idle"], len(described) - busy)
        yield workers
        gpus = GaugeMetricFamily("fastvideo_ui_gpus", "GPUs jobs can be placed on, by node", labels=["node"])
        per_node: dict[str, int] = {}
        for gpu in self.inventory.gpus:
            node = self.inventory.nodes.get(gpu, "local")
            per_node[node] = per_node.get(node, 0) + 1
        for node, count in per_node.items():
            gpus.add_metric([node], count)
        yield gpus
        if self.ray_up is not None:
            up = GaugeMetricFamily("fastvideo_ui_ray_up", "1 while the Ray cluster (--ray) is reachable")
            up.add_metric([], 1 if self.ray_up() else 0)
            yield up
        if not self.inventory.elastic:  # NVML here knows nothing of a Ray node's GPUs
            yield from _gpu_metrics(self.inventory)


def _gpu_metrics(inventory: Inventory) -> Iterator[Metric]:
    if not inventory.gpus:
        return
    telemetry = gpu_telemetry(inventory, {})
    utilization = GaugeMetricFamily("fastvideo_ui_gpu_utilization_ratio", "NVML GPU utilization, 0 to 1",
                                    labels=["gpu", "name"])
    used = GaugeMetricFamily("fastvideo_ui_gpu_memory_used_bytes", "NVML GPU memory in use", labels=["gpu", "name"])
    total = GaugeMetricFamily("fastvideo_ui_gpu_memory_total_bytes", "NVML GPU memory", labels=["gpu", "name"])
    rows: list[dict[str, Any]] = telemetry["gpus"]  # type: ignore[assignment]
    for row in rows:
        labels = [str(row["id"]), str(row["name"] or "")]
        if row["utilization_percent"] is not None:
            utilization.add_metric(labels, row["utilization_percent"] / 100)
        if row["memory_used_bytes"] is not None:
            used.add_metric(labels, row["memory_used_bytes"])
            total.add_metric(labels, row["memory_total_bytes"])
    yield from (utilization, used, total)
