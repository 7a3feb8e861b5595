"""A server with GPUs and FastVideo starts one worker before any job: it imports
FastVideo while nobody waits, reads FastVideo's registry (no probe process of
its own), and the first job that fits takes it."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import FakeFastVideo, Server, wait_for

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


@pytest.mark.slow
def test_a_restart_with_a_queued_job_starts_no_second_worker_on_its_gpu(start_server: Callable[..., Server],
                                                                         tmp_path: Path) -> None:
    """A graceful stop queues its running job again; at the next start that job takes the first GPU
    before the worker started with the server would: that one is not started at all."""
    from conftest import fake_fastvideo_env

    env = fake_fastvideo_env(tmp_path / "record.jsonl", step_s=0.2)
    data = tmp_path / "data"
    first = start_server("--gpus", "0", data_dir=data, env=env)
    fake = FakeFastVideo(first, tmp_path / "record.jsonl")
    job = fake.create(start=True, num_inference_steps=200)
    first.wait_status(job["id"], "running")
    first.terminate()  # a graceful stop: the job is queued again, first
    said_before = len(first.output.read_text())  # both servers write to the data dir's server.out
    again = start_server("--gpus", "0", data_dir=data, env=env)
    again.wait_status(job["id"], "running")
    wait_for(lambda: "fastvideo's registry read" in again.output.read_text()[said_before:], timeout=60,
             what="the registry, read by a probe process")
    workers = again.health()["workers"]
    assert [w["devices"] for w in workers] == [["0"]] and workers[0]["job_id"] == job["id"]
    assert "started before any job" not in again.output.read_text()[said_before:]
    again.client.post(f"/api/jobs/{job['id']}/stop")
