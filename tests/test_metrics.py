"""GET /metrics in Prometheus's format: what happened and what is, read back
with prometheus_client's own parser."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from test_gpu_telemetry import fake_nvml

from conftest import PREVIEW, InProcessServer, Server
from fastvideo_ui.jobs.metrics import Metrics
from fastvideo_ui.jobs.store import JobStore
from fastvideo_ui.workers.devices import Inventory

TOKEN = "metrics-k1EVpmnE-_iahHxLbgfZqiB8EFno"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def test_runs_loads_first_steps_and_the_queue_are_counted(server: Server) -> None:
    done = server.create(start=True)
    server.wait_status(done["id"], "completed")
    server.client.post("/api/queue/pause")
    server.create(start=True)
    response = server.client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    values = samples(response.text)
    model = (("model", PREVIEW),)
    assert values[("fastvideo_ui_job_duration_seconds_count", model)] == 1
    assert values[("fastvideo_ui_time_to_first_step_seconds_count", model)] == 1
    assert values[("fastvideo_ui_model_loads_total", model)] == 1
    assert values[("fastvideo_ui_runs_ended_total", (("model", PREVIEW), ("outcome", "completed")))] == 1
    assert values[("fastvideo_ui_jobs", (("status", "completed"),))] == 1
    assert values[("fastvideo_ui_jobs", (("status", "queued"),))] == 1
    assert values[("fastvideo_ui_queue_depth", ())] == 1 and values[("fastvideo_ui_queue_paused", ())] == 1
    assert values[("fastvideo_ui_workers", (("state", "busy"),))] == 0
    server.client.post("/api/queue/resume")


def test_the_token_guards_metrics_unless_made_public(start_server: Callable[..., Server], tmp_path: Path) -> None:
    guarded = start_server(env={"FASTVIDEO_UI_API_TOKEN": TOKEN})
    assert guarded.client.get("/metrics").status_code == 401
    answer = guarded.client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200 and "fastvideo_ui_queue_depth" in answer.text
    public = InProcessServer(tmp_path / "public", ["--metrics-public", "--api-token", TOKEN])
    try:
        public.start()
        assert public.client.get("/metrics").status_code == 200
        assert public.client.get("/api/jobs").status_code == 401  # only /metrics is public
    finally:
        public.terminate()


def test_gpu_utilization_and_memory_come_from_nvml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fastvideo_ui.database.engine import make_engine
    from fastvideo_ui.database.migrate import migrate

    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml())
    engine = make_engine(tmp_path / "jobs.sqlite3")
    migrate(engine)
    metrics = Metrics()
    metrics.watch(JobStore(engine), Inventory(("0", "1"), "nvml", "", ()), lambda: [], lambda: False)
    values = samples(metrics.exposition().decode())
    gpu1 = (("gpu", "1"), ("name", "NVIDIA H100 80GB HBM3"))
    assert values[("fastvideo_ui_gpu_utilization_ratio", gpu1)] == 0.37
    assert values[("fastvideo_ui_gpu_memory_used_bytes", gpu1)] == 2 * 2**30
    assert values[("fastvideo_ui_gpu_memory_total_bytes", gpu1)] == 80 * 2**30
