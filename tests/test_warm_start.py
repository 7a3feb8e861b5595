"""A server with GPUs and FastVideo starts one worker before any job: it imports
FastVideo while nobody waits, reads FastVideo's registry (no probe process of
its own), and the first job that fits takes it."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from conftest import FakeFastVideo, wait_for

TINY_FAKE = "FastVideo/Tiny-T2V-Diffusers"  # only the fake's registry has it


@pytest.mark.slow
def test_the_first_job_takes_the_worker_started_with_the_server(fastvideo: Callable[..., FakeFastVideo]) -> None:
    fake = fastvideo("--gpus", "0,1")
    server = fake.server
    worker = wait_for(lambda: next(iter(server.health()["workers"]), None), timeout=30,
                      what="a worker started with the server")
    assert worker["devices"] == ["0"] and worker["model"] is None and worker["job_id"] is None
    wait_for(lambda: TINY_FAKE in {m["id"] for m in server.client.get("/api/models").json()}, timeout=30,
             what="the registry, read by that worker")
    output = server.output.read_text()
    assert "read by the first worker" in output
    assert "fastvideo_catalogue" not in output and "registry probe" not in output
    job = server.wait_status(fake.create(start=True)["id"], "completed")
    started = re.search(r"started on GPU (\S+) \(worker (\d+), pid (\d+)\)", server.log_text(job["id"]))
    assert started is not None and started.groups() == ("0", str(worker["id"]), str(worker["pid"]))
    assert [w["pid"] for w in server.health()["workers"]] == [worker["pid"]]  # no second process was started


@pytest.mark.slow
def test_a_server_without_gpus_starts_no_worker_before_a_job(fastvideo: Callable[..., FakeFastVideo]) -> None:
    fake = fastvideo("--gpus", "none")
    wait_for(lambda: TINY_FAKE in {m["id"] for m in fake.server.client.get("/api/models").json()}, timeout=30,
             what="the registry probe")
    assert fake.server.health()["workers"] == []
