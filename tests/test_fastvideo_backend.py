"""The FastVideo backend through the real server, against the fake `fastvideo`
package in tests/fake_fastvideo (0.2.1's signatures; a child process per GPU
printing FastVideo's log and tqdm formats)."""

from __future__ import annotations

from typing import Any, Callable

from conftest import SMALL_VIDEO, WAN, FakeFastVideo, process_gone, wait_for

FASTWAN = "FastVideo/FastWan2.1-T2V-1.3B-Diffusers"


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
    assert load["model"] == WAN and load["kwargs"] == {
        "num_gpus": 1, "dit_cpu_offload": False, "text_encoder_cpu_offload": False,
        "vae_cpu_offload": False, "use_fsdp_inference": False}
    (generate,) = fake.events("generate")
    assert generate["kwargs"]["output_path"].endswith(f"{job['id']}.mp4") and generate["kwargs"]["save_video"]
    assert {k: generate["kwargs"][k] for k in ("num_inference_steps", "num_frames", "height", "width", "seed")} == {
        "num_inference_steps": 12, "num_frames": 5, "height": 64, "width": 64, "seed": 1024}


def test_a_hang_is_stopped_by_force_with_no_process_left(fastvideo: Callable[..., FakeFastVideo]) -> None:
    fake = fastvideo("--gpus", "0")
    job = fake.create(start=True, prompt="[hang] never finishes", num_inference_steps=50)
    wait_for(lambda: (fake.server.job(job["id"])["step"] or 0) >= 2, what="the hang to begin")
    (load,) = fake.events("load")
    processes = [load["pid"], *load["worker_pids"]]
    fake.server.client.post(f"/api/jobs/{job['id']}/stop")
    stopped = fake.server.wait_status(job["id"], "stopped", timeout=30)
    assert stopped["error"] is None
    wait_for(lambda: all(process_gone(pid) for pid in processes), timeout=10, what="every process to end")
    assert fake.server.health()["devices"]["allocated"] == {}
    assert "cannot stop between steps" in fake.server.log_text(job["id"])
    # The device is free, and the next job gets a fresh worker and a fresh load.
    after = fake.create(start=True, prompt="the next one")
    assert fake.server.wait_status(after["id"], "completed", "failed")["status"] == "completed"
    assert len(fake.events("load")) == 2


def test_a_crashed_gpu_worker_fails_the_job_clearly(fastvideo: Callable[..., FakeFastVideo]) -> None:
    fake = fastvideo("--gpus", "0")
    job = fake.create(start=True, prompt="[crash] a GPU worker dies")
    failed = fake.server.wait_status(job["id"], "failed", timeout=30)
    assert "died unexpectedly" in failed["error"] and "\n" not in failed["error"]
    (load,) = fake.events("load")
    wait_for(lambda: all(process_gone(pid) for pid in [load["pid"], *load["worker_pids"]]), timeout=15)


def test_out_of_memory_is_one_human_line_and_the_traceback_is_logged(
        fastvideo: Callable[..., FakeFastVideo]) -> None:
    fake = fastvideo("--gpus", "3,5")
    job = fake.create(start=True, prompt="[oom] too big")
    failed = fake.server.wait_status(job["id"], "failed", timeout=30)
    assert failed["error"] == ("CUDA out of memory on GPU 3 while denoising: try fewer frames, "
                               "a smaller size, or dit_cpu_offload")
    log = fake.server.log_text(job["id"])
    assert "Traceback" in log and "Tried to allocate 20.00 GiB" in log


def test_a_model_the_hub_does_not_have(fastvideo: Callable[..., FakeFastVideo]) -> None:
    fake = fastvideo("--gpus", "0")
    job = fake.create(model_id="Wan-AI/Wan2.1-T2V-14B-Diffusers", start=True)
    failed = fake.server.wait_status(job["id"], "failed", timeout=30)
    assert failed["error"].startswith("model Wan-AI/Wan2.1-T2V-14B-Diffusers was not found")


def test_two_models_alternate_with_one_load_per_switch(fastvideo: Callable[..., FakeFastVideo]) -> None:
    fake = fastvideo("--gpus", "0")
    order = [WAN, WAN, FASTWAN, FASTWAN, WAN, WAN]
    jobs = [fake.create(model_id=model, start=True, prompt=f"job {i}") for i, model in enumerate(order)]
    for job in jobs:
        assert fake.server.wait_status(job["id"], "completed", "failed", timeout=60)["status"] == "completed"
    assert [row["model"] for row in fake.events("load")] == [WAN, FASTWAN, WAN]
    assert [row["model"] for row in fake.events("shutdown")] == [WAN, FASTWAN]
    assert [row["model"] for row in fake.events("generate")] == order


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
    for field, value, words in (("height", 60, "multiple of 8"), ("num_frames", 6, "4k+1"),
                                ("num_gpus", 3, "this server has 2 GPUs")):
        response = fake.server.client.post("/api/jobs", json={"model_id": WAN, "prompt": "p", **SMALL_VIDEO, field: value})
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


def test_catalogue_comes_from_the_installed_registry(fastvideo: Callable[..., FakeFastVideo]) -> None:
    fake = fastvideo("--gpus", "0")

    def tiny() -> dict[str, Any] | None:
        models = {m["id"]: m for m in fake.server.client.get("/api/models").json()}
        return models.get("FastVideo/Tiny-T2V-Diffusers")

    model = wait_for(tiny, timeout=30, what="the registry probe")
    assert model["available"] and model["label"] == "Tiny T2V (fake)"
    assert {k: model["defaults"][k] for k in ("height", "width", "num_frames", "fps", "num_inference_steps",
                                               "guidance_scale", "negative_prompt")} == {
        "height": 256, "width": 320, "num_frames": 17, "fps": 12, "num_inference_steps": 6,
        "guidance_scale": 2.5, "negative_prompt": "noise"}
    assert model["limits"]["height"]["multiple_of"] == 8
    models = {m["id"] for m in fake.server.client.get("/api/models").json()}
    assert "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers" not in models  # image-to-video is not offered
    refused = fake.server.client.post("/api/jobs", json={"model_id": "FastVideo/Tiny-T2V-Diffusers",
                                                         "prompt": "p", "width": 100})
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["body", "width"]
    job = fake.server.create(model_id="FastVideo/Tiny-T2V-Diffusers", start=True, height=None, width=None,
                             num_frames=None, num_inference_steps=None)
    done = fake.server.wait_status(job["id"], "completed", "failed", timeout=60)
    assert done["status"] == "completed" and (done["width"], done["height"], done["num_frames"]) == (320, 256, 17)
