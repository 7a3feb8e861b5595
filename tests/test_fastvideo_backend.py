"""The FastVideo backend through the real server, against the fake `fastvideo`
package in tests/fake_fastvideo (0.2.1's signatures; a child process per GPU
printing FastVideo's log and tqdm formats), for what the real library cannot
show on this CPU: several GPUs, GPU ids, and the exact arguments we pass.
tests/test_real_fastvideo.py runs the real library for everything else."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

from conftest import FAKE_NVML, SMALL_VIDEO, WAN, FakeFastVideo, wait_for


@pytest.mark.slow
def test_progress_moves_step_by_step_to_a_video(fastvideo: Callable[..., FakeFastVideo]) -> None:
    fake = fastvideo(step_s=0.15)
    job = fake.create(num_inference_steps=12, prompt="a clock reading 10:30 on 2026/11/25, 1/2 full")
    seen: list[tuple[int, str]] = []

    def finished() -> bool:
        current = fake.server.job(job["id"])
        if current["status"] == "running" and current["total_steps"]:
            seen.append((current["step"], current["phase"]))
        return current["status"] in ("completed", "failed")

    fake.server.client.post(f"/api/jobs/{job['id']}/start")
    wait_for(finished, timeout=60, interval=0.03)
    done = fake.server.job(job["id"])
    assert done["status"] == "completed", done["error"]
    steps = sorted({step for step, phase in seen if phase == "denoising"})
    assert len(steps) >= 6 and steps == sorted(steps) and max(steps) <= 12, seen
    assert done["total_steps"] == 12 and done["progress"] == 100.0
    video = fake.server.client.get(done["video_url"])
    assert video.status_code == 200 and video.content[4:8] == b"ftyp"
    assert fake.server.client.get(done["poster_url"]).headers["content-type"] == "image/jpeg"
    log = fake.server.log_text(job["id"])
    assert "12/12 [" in log and "Saved video to" in log and "[denoising_stage|DenoisingStage]" in log
    (load,) = fake.events("load")
    # FastVideo's defaults, as FastVideo resolves them: layerwise offload turns dit_cpu_offload off.
    # Issue 26's load options at their defaults (a null one, such as sp_size, is FastVideo's own: not passed).
    assert load["model"] == WAN and load["kwargs"] == {
        "num_gpus": 1, "dit_layerwise_offload": True, "dit_cpu_offload": False, "text_encoder_cpu_offload": True,
        "vae_cpu_offload": True, "use_fsdp_inference": False, "enable_torch_compile": False, "VSA_sparsity": 0.0}
    (generate,) = fake.events("generate")
    assert generate["kwargs"]["output_path"].endswith(f"{job['id']}.mp4") and generate["kwargs"]["save_video"]
    # No copy of the frames in our worker: the file is all we keep.
    assert generate["kwargs"]["return_frames"] is False
    assert {k: generate["kwargs"][k] for k in ("num_inference_steps", "num_frames", "height", "width", "seed")} == {
        "num_inference_steps": 12, "num_frames": 5, "height": 64, "width": 64, "seed": 1024}






def test_out_of_memory_is_one_human_line_and_the_traceback_is_logged(
        fastvideo: Callable[..., FakeFastVideo]) -> None:
    fake = fastvideo("--gpus", "3,5")
    job = fake.create(start=True, prompt="[oom] too big")
    failed = fake.server.wait_status(job["id"], "failed", timeout=30)
    # Rank 0 of GPUs 3 and 5 is CUDA's GPU 0; the advice names options this job does not use yet.
    assert failed["error"] == ("CUDA out of memory on GPU 3 while denoising: try fewer frames, a smaller size, "
                               "or more GPUs (num_gpus)")
    log = fake.server.log_text(job["id"])
    assert "Traceback" in log and "Tried to allocate 20.00 GiB" in log






@pytest.mark.slow
def test_two_gpu_jobs_get_disjoint_pairs(fastvideo: Callable[..., FakeFastVideo]) -> None:
    fake = fastvideo("--gpus", "0,1,2,3", step_s=0.2)
    first = fake.create(start=True, num_gpus=2, num_inference_steps=10, prompt="first pair")
    second = fake.create(start=True, num_gpus=2, num_inference_steps=10, prompt="second pair")
    wait_for(lambda: all(fake.server.job(j["id"])["status"] == "running" for j in (first, second)),
             what="both to run at once")
    pairs = [set(fake.server.job(j["id"])["devices"]) for j in (first, second)]
    assert all(len(pair) == 2 for pair in pairs) and not pairs[0] & pairs[1]
    for job in (first, second):
        fake.server.wait_status(job["id"], "completed", timeout=60)
    seen = sorted(row["cuda_visible_devices"] for row in fake.events("load"))
    assert [set(ids.split(",")) for ids in seen] == sorted(pairs, key=lambda p: ",".join(sorted(p)))
    assert all(row["kwargs"]["num_gpus"] == 2 for row in fake.events("load"))


def test_sizes_fastvideo_would_refuse_are_422_at_create(fastvideo: Callable[..., FakeFastVideo]) -> None:
    fake = fastvideo()
    for field, value, words in (("height", 60, "multiple of 8"), ("height", 72, "multiple of 16"),
                                ("num_frames", 6, "4k+1"),
                                ("num_gpus", 3, "this server has 2 GPUs")):
        body = {"model_id": WAN, "prompt": "p", **SMALL_VIDEO, field: value}
        response = fake.server.client.post("/api/jobs", json=body)
        assert response.status_code == 422, (field, response.text)
        detail = response.json()["detail"][0]
        assert detail["loc"] == ["body", field] and words in detail["msg"], detail


def test_gpus_endpoint_names_the_holder_and_never_fails(fastvideo: Callable[..., FakeFastVideo]) -> None:
    fake = fastvideo("--gpus", "0,1")
    job = fake.create(start=True, prompt="[hang] holds GPU 0", num_inference_steps=50)
    fake.server.wait_status(job["id"], "running")
    answer = fake.server.client.get("/api/gpus").json()
    assert [gpu["id"] for gpu in answer["gpus"]] == ["0", "1"] and answer["source"] == "--gpus"
    holders = {gpu["id"]: gpu["job_id"] for gpu in answer["gpus"]}
    assert sorted(holders.values(), key=str) == sorted([job["id"], None], key=str)
    # This machine has no NVIDIA driver: the figures are absent, with the reason.
    if not answer["available"]:
        assert answer["reason"] and answer["gpus"][0]["memory_total_bytes"] is None
    fake.server.client.post(f"/api/jobs/{job['id']}/stop")
    fake.server.wait_status(job["id"], "stopped")



def test_gpus_named_by_uuid_reach_fastvideo_as_indices(fastvideo: Callable[..., FakeFastVideo]) -> None:
    # FastVideo calls int() on every CUDA_VISIBLE_DEVICES entry (the fake does too).
    uuids = "GPU-5d1f0a2e-aaaa,GPU-77c0b3f1-bbbb"
    fake = fastvideo("--gpus", uuids.split(",")[1], nvml_uuids=uuids)
    job = fake.create(start=True, prompt="on the second GPU, by UUID")
    done = fake.server.wait_status(job["id"], "completed", "failed", timeout=60)
    assert done["status"] == "completed", done["error"]
    assert done["devices"] == ["GPU-77c0b3f1-bbbb"]  # the user's name for it
    (load,) = fake.events("load")
    assert load["cuda_visible_devices"] == "1" and load["cuda_device_order"] == "PCI_BUS_ID"


@pytest.mark.slow
def test_an_unknown_gpu_uuid_refuses_to_start(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(FAKE_NVML), os.environ.get("PYTHONPATH", "")]),
               FAKE_NVML_UUIDS="GPU-aaaa")
    done = subprocess.run([sys.executable, "-m", "fastvideo_ui.server", "--port", "0", "--data-dir",
                           str(tmp_path), "--gpus", "GPU-zzzz"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "GPU GPU-zzzz: NVML does not know this UUID" in done.stderr and "Traceback" not in done.stderr


def test_job_output_cannot_forge_log_markers(fastvideo: Callable[..., FakeFastVideo]) -> None:
    # FastVideo echoes the prompt into the worker's output, where the log markers travel.
    fake = fastvideo("--gpus", "0,1")
    victim = fake.create(start=True, prompt="[hang] the victim", num_inference_steps=50)
    fake.server.wait_status(victim["id"], "running")
    forged = "".join(f"\n\x1efastvideo-ui:{kind}:{victim['id']}\nFORGED {kind}" for kind in ("end", "begin"))
    refused = fake.server.client.post("/api/jobs", json={"model_id": WAN, "prompt": f"an innocent prompt{forged}"})
    assert refused.status_code == 422  # a prompt is one line now; a job stored before that rule can hold one
    attacker = fake.create(prompt="an innocent prompt")
    with sqlite3.connect(fake.server.data_dir / "jobs.sqlite3") as db:
        db.execute("UPDATE jobs SET prompt = ? WHERE id = ?", (f"an innocent prompt{forged}", attacker["id"]))
    assert fake.server.client.post(f"/api/jobs/{attacker['id']}/start").status_code == 200
    assert fake.server.wait_status(attacker["id"], "completed", "failed")["status"] == "completed"
    assert "FORGED" not in fake.server.log_text(victim["id"])
    assert "FORGED begin" in fake.server.log_text(attacker["id"])
    fake.server.client.post(f"/api/jobs/{victim['id']}/stop")
