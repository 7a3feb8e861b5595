"""The real fastvideo 0.2.1, through the real server and worker, on this CPU.

The server runs in the real-FastVideo environment (scripts/fastvideo-env.sh),
with a tiny random-weight Wan 2.1 T2V checkpoint in an offline Hugging Face
cache under the catalogue's own id, and tests/real_fastvideo/site on
PYTHONPATH: the CPU shims (each one says why) and faults a prompt can ask
for inside FastVideo's GPU worker. One server serves the whole module, as one
would serve a day of jobs: each test also shows the server is fine after the
one before it. These tests never skip: without the environment they fail.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import httpx
import psutil
import pytest

from conftest import REAL_SITE, WAN, Server, process_gone, real_env, real_python, wait_for

pytestmark = pytest.mark.real_fastvideo

TINY = {"model_id": WAN, "height": 64, "width": 64, "num_frames": 5, "num_inference_steps": 3}
SECOND_MODEL = "Wan-AI/Wan2.1-T2V-14B-Diffusers"  # the same tiny weights, FastVideo's 720P pipeline config
NOT_CACHED = "FastVideo/FastWan2.1-T2V-1.3B-Diffusers"
I2V = "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers"  # tests/real_fastvideo/build_tiny_wan.py builds it too
BUILD_TINY_LORA = Path(__file__).parent / "real_fastvideo" / "build_tiny_lora.py"


@pytest.fixture(scope="module")
def real(tiny_wan_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    _cache_second_model(tiny_wan_home)
    server = Server(tmp_path_factory.mktemp("real-fastvideo"), ["--gpus", "0"], env=real_env(tiny_wan_home),
                    python=real_python())
    server.start()
    yield server
    server.terminate()
    server.client.close()


def _cache_second_model(hf_home: Path) -> None:
    """The tiny checkpoint again under a second registered id, so a model switch is a real one."""
    hub = hf_home / "hub"
    source = hub / ("models--" + WAN.replace("/", "--"))
    target = hub / ("models--" + SECOND_MODEL.replace("/", "--"))
    if not target.exists():
        import shutil

        shutil.copytree(source, target)


def run(server: Server, timeout: float = 180, **body: Any) -> dict[str, Any]:
    job = server.create(**(TINY | {"start": True} | body))
    return server.wait_status(job["id"], "completed", "failed", "stopped", timeout=timeout)


class EventLog:
    """Every SSE event the server publishes while the block runs."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.events: list[tuple[str, dict[str, Any]]] = []
        self._stop = threading.Event()
        self._ready = threading.Event()

    def __enter__(self) -> "EventLog":
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()  # the thread ends at the next event, or when the server does

    def _read(self) -> None:
        try:
            with httpx.stream("GET", f"{self.server.url}/api/events", timeout=300) as response:
                kind = ""
                self._ready.set()
                for line in response.iter_lines():
                    if self._stop.is_set():
                        return
                    if line.startswith("event:"):
                        kind = line.split(":", 1)[1].strip()
                    elif line.startswith("data:"):
                        self.events.append((kind, json.loads(line.split(":", 1)[1])))
        except httpx.HTTPError:
            pass  # the server went away at the module's end, while the stream waited for an event

    def of(self, job_id: str, kind: str) -> list[dict[str, Any]]:
        return [data for event, data in self.events if event == kind and data.get("id") == job_id]


def test_a_job_runs_to_a_playable_video_with_steps_and_phases(real: Server) -> None:
    with EventLog(real) as events:
        # Big enough that denoising lasts seconds: tqdm redraws at most every 0.1 s.
        done = run(real, num_inference_steps=60, height=256, width=256, num_frames=17,
                   prompt="a red fox runs through the snow at dawn")
        wait_for(lambda: events.of(done["id"], "updated"), timeout=10)
    assert done["status"] == "completed", done["error"]
    video = real.client.get(done["video_url"])
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    path = real.data_dir / "video.mp4"
    path.write_bytes(video.content)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        assert (stream.codec_context.name, stream.width, stream.height, frames) == ("h264", 256, 256, 17)
    # FastVideo wrote the file; it carries the settings all the same.
    settings = real.client.post("/api/media/settings", content=video.content,
                                headers={"Content-Type": "video/mp4"}).json()["settings"]
    assert (settings["model_id"], settings["prompt"], settings["num_frames"], settings["job_id"]) == (
        WAN, "a red fox runs through the snow at dawn", 17, done["id"])
    assert real.client.get(done["poster_url"]).headers["content-type"] == "image/jpeg"
    progress = events.of(done["id"], "progress")
    steps = [event["step"] for event in progress if event["step"]]
    # FastVideo's own tqdm bar, read from its GPU worker's output: many steps, in order, to the last.
    assert len(set(steps)) >= 4 and steps == sorted(steps) and steps[-1] == 60, steps
    assert {event["total_steps"] for event in progress if event["step"]} == {60}
    phases = [event["phase"] for event in progress]
    seen = [phase for i, phase in enumerate(phases) if i == 0 or phases[i - 1] != phase]
    # In FastVideo's order. A phase over within the worker's report interval (0.1 s) may be passed over:
    # on this tiny model, encoding the prompt and decoding can be.
    order = ("loading model", "encoding prompt", "denoising", "decoding", "saving")
    shown = [p for p in seen if p in order]
    assert shown == sorted(shown, key=order.index) and {"loading model", "denoising", "saving"} <= set(shown), seen
    log = real.log_text(done["id"])
    assert "60/60 [" in log and "Saved video to" in log
    # Our offload flags are the ones FastVideo keeps: it had nothing to switch off.
    assert "automatically disabling" not in log


def test_an_image_to_video_job_runs_fastvideos_i2v_pipeline_on_the_image(real: Server) -> None:
    import io

    import numpy as np
    from PIL import Image

    picture = io.BytesIO()
    Image.fromarray(np.random.default_rng(3).integers(0, 255, (96, 96, 3), dtype=np.uint8)).save(picture, "PNG")
    image = real.client.post("/api/uploads", content=picture.getvalue(), headers={"Content-Type": "image/png"})
    assert image.status_code == 201, image.text
    done = run(real, model_id=I2V, image=image.json()["id"], prompt="the picture comes alive")
    assert done["status"] == "completed", done["error"]
    log = real.log_text(done["id"])
    # FastVideo's own image-to-video pipeline, given our stored image.
    assert "WanImageToVideoPipeline" in log and f"image_path: {real.data_dir}/uploads/{done['image']}.png" in log
    path = real.data_dir / "i2v.mp4"
    path.write_bytes(real.client.get(done["video_url"]).content)
    with av.open(str(path)) as container:
        assert sum(1 for _ in container.decode(video=0)) == TINY["num_frames"]
    # A model that takes only an image refuses a job without one.
    refused = real.client.post("/api/jobs", json={"model_id": I2V, "prompt": "p"})
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["body", "image"]


def test_an_empty_negative_prompt_with_guidance_works(real: Server) -> None:
    done = run(real, negative_prompt="", guidance_scale=5.0, prompt="a cat sleeps on a warm windowsill")
    assert done["status"] == "completed", done["error"]
    assert done["negative_prompt"] == "" and done["guidance_scale"] == 5.0


def _frames(server: Server, job: dict[str, Any], name: str) -> list[Any]:
    path = server.data_dir / name
    path.write_bytes(server.client.get(job["video_url"]).content)
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(container.streams.video[0])]


def test_guidance_rescale_reaches_fastvideos_denoising(real: Server) -> None:
    """The spec's proof field (one entry in spec/fields.py): FastVideo applies it after CFG when above 0."""
    asked = {"prompt": "a lighthouse on a cliff at night", "guidance_scale": 3.0, "seed": 77}
    plain, rescaled = run(real, guidance_rescale=0.0, **asked), run(real, guidance_rescale=0.7, **asked)
    assert plain["status"] == rescaled["status"] == "completed", (plain["error"], rescaled["error"])
    settings = real.client.post("/api/media/settings", content=real.client.get(rescaled["video_url"]).content,
                                headers={"Content-Type": "video/mp4"}).json()["settings"]
    assert settings["guidance_rescale"] == 0.7 and rescaled["guidance_rescale"] == 0.7
    before, after = _frames(real, plain, "plain.mp4"), _frames(real, rescaled, "rescaled.mp4")
    assert len(before) == len(after) == 5
    # The same seed and settings make the same frames on this CPU, so a difference is the rescale's.
    again = run(real, guidance_rescale=0.0, **asked)
    assert all((a == b).all() for a, b in zip(before, _frames(real, again, "again.mp4"), strict=True))
    assert any((a != b).any() for a, b in zip(before, after, strict=True)), "the rescale changed nothing"


def _tiny_lora(server: Server, hf_home: Path, name: str, *flags: str) -> None:
    """A random LoRA for the tiny checkpoint's attention and feed-forward layers, into the server's library."""
    path = server.data_dir / name
    subprocess.run([real_python(), str(BUILD_TINY_LORA), str(path), "--hf-home", str(hf_home), *flags],
                   env=dict(os.environ, **real_env(hf_home)), check=True, timeout=120, capture_output=True)
    added = server.client.post("/api/loras", params={"name": name}, content=path.read_bytes(),
                               headers={"Content-Type": "application/octet-stream"})
    assert added.status_code == 201, added.text


def test_a_lora_changes_the_video_a_switch_needs_no_load_and_none_is_the_plain_video(
        real: Server, tiny_wan_home: Path) -> None:
    _tiny_lora(real, tiny_wan_home, "tiny.safetensors", "--seed", "1")
    _tiny_lora(real, tiny_wan_home, "nowhere.safetensors", "--unmatched")
    asked = {"prompt": "a paper boat on a pond", "guidance_scale": 1.0, "seed": 5}
    plain = run(real, **asked)
    styled = run(real, loras=[{"lora": "tiny", "strength": 1.0}], **asked)
    half = run(real, loras=[{"lora": "tiny", "strength": 0.5}], **asked)
    again = run(real, **asked)
    for job in (plain, styled, half, again):
        assert job["status"] == "completed", job["error"]
    assert styled["load_seconds"] is None and half["load_seconds"] is None and again["load_seconds"] is None
    frames = [_frames(real, job, f"{job['id']}.mp4") for job in (plain, styled, half, again)]
    differs = [any((a != b).any() for a, b in zip(frames[0], other, strict=True)) for other in frames[1:]]
    assert differs[:2] == [True, True], "the LoRA changed nothing"
    assert any((a != b).any() for a, b in zip(frames[1], frames[2], strict=True)), "the strength changed nothing"
    assert not differs[2], "no LoRA after one is not the plain video"
    log = real.client.get(f"/api/jobs/{half['id']}/logs").text
    assert re.search(r"LoRAs now merged in [\d.]+ ms: tiny.safetensors at 0.5", log) and "loading" not in log
    nowhere = run(real, loras=[{"lora": "nowhere"}], **asked)
    assert nowhere["status"] == "completed"
    assert nowhere["warnings"] == [f"LoRA nowhere.safetensors matched no layer of {WAN}: FastVideo skipped all of its "
                                   f"weights, so it changed nothing"]
    assert all((a == b).all() for a, b in zip(frames[0], _frames(real, nowhere, "nowhere.mp4"), strict=True))


def test_the_attention_backends_offered_are_fastvideos() -> None:
    from fastvideo_ui.spec.fields import ATTENTION_BACKENDS

    out = subprocess.run([real_python(), "-c", "from fastvideo.platforms.interface import AttentionBackendEnum as "
                          "e; print('backends:', *(m.name for m in e))"], capture_output=True, text=True, timeout=120,
                         check=True, env=dict(os.environ, PYTHONPATH=str(REAL_SITE))).stdout  # FastVideo logs there too
    names = next(line for line in out.splitlines() if line.startswith("backends: ")).split()[1:]
    assert set(ATTENTION_BACKENDS) == set(names) - {"ATTN_QAT_TRAIN", "NO_ATTENTION"}  # training and "none"


def _fastvideo_gpu_workers(server: Server) -> list[psutil.Process]:
    """The GPU worker processes FastVideo spawned under our workers (not
    multiprocessing's resource tracker, which outlives a model by design)."""
    found = []
    for worker in server.health()["workers"]:
        try:
            children = psutil.Process(worker["pid"]).children(recursive=True)
            found += [child for child in children if "spawn_main" in " ".join(child.cmdline())]
        except psutil.NoSuchProcess:
            pass
    return found


def test_out_of_memory_in_a_gpu_worker_is_one_line_and_the_next_job_runs(real: Server) -> None:
    failed = run(real, prompt="a boat drifts [fault:oom@2]", num_inference_steps=6)
    assert failed["status"] == "failed"
    assert failed["error"] == ("CUDA out of memory on GPU 0 while denoising: try fewer frames, a smaller size, "
                               "or more GPUs (num_gpus)")
    log = real.log_text(failed["id"])
    assert "Traceback" in log and "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 GiB" in log
    assert "2/6 [" in log and "3/6 [" not in log
    assert real.health()["status"] == "ok"
    after = run(real, prompt="the next job, on the same GPU")
    assert after["status"] == "completed", after["error"]


def test_a_killed_gpu_worker_fails_its_job_clearly(real: Server) -> None:
    failed = run(real, prompt="a city street at night [fault:kill@2]", num_inference_steps=6)
    assert failed["status"] == "failed"
    assert failed["error"] == ("a FastVideo GPU worker (rank 0) was killed by SIGKILL (9) (out of memory?) "
                               "while denoising"), \
        failed["error"]
    after = run(real, prompt="and the next one runs")
    assert after["status"] == "completed", after["error"]


def test_stop_ends_fastvideos_own_processes(real: Server) -> None:
    job = real.create(**(TINY | {"start": True, "num_inference_steps": 200, "height": 256, "width": 256,
                                 "num_frames": 17, "prompt": "waves on a rocky shore"}))
    wait_for(lambda: (real.job(job["id"])["step"] or 0) >= 2, timeout=120, what="denoising to begin")
    worker_pid = real.job(job["id"]) and real.health()["workers"][0]["pid"]
    spawned = _fastvideo_gpu_workers(real)
    assert spawned, "FastVideo spawned no GPU worker process"
    assert real.client.post(f"/api/jobs/{job['id']}/stop").status_code == 200
    stopped = real.wait_status(job["id"], "stopped", timeout=30)
    assert stopped["error"] is None
    wait_for(lambda: all(process_gone(pid) for pid in [worker_pid, *(p.pid for p in spawned)]), timeout=15,
             what="our worker and FastVideo's GPU workers to end")
    assert real.health()["devices"]["allocated"] == {}
    # The worker ended its own process group because we asked: the server's log
    # does not guess at memory (it did, seen on an H200).
    exit_line = wait_for(lambda: next((line for line in real.output.read_text().splitlines()
                                       if f"(pid {worker_pid}) killed" in line), None),
                         timeout=10, what="the server to log the worker's end")
    assert "SIGKILL" in exit_line and "(out of memory?)" not in exit_line, exit_line
    after = run(real, prompt="a fresh worker after the stop")
    assert after["status"] == "completed", after["error"]


def test_switching_models_shuts_the_first_down_and_loads_the_next(real: Server) -> None:
    first = run(real, prompt="on the first model")
    assert first["status"] == "completed", first["error"]
    before = {p.pid for p in _fastvideo_gpu_workers(real)}
    assert before
    second = run(real, model_id=SECOND_MODEL, prompt="on the second model")
    assert second["status"] == "completed", second["error"]
    log = real.log_text(second["id"])
    # FastVideo's shutdown() ran (its executor logs it), then the second model loaded.
    assert log.index("MultiprocExecutor shutdown complete") < log.index(f"loading {SECOND_MODEL}")
    assert all(process_gone(pid) for pid in before)


def test_a_model_missing_from_the_offline_cache_says_so(real: Server) -> None:
    failed = run(real, model_id=NOT_CACHED, prompt="not downloaded", height=448, width=832, num_frames=5)
    assert failed["status"] == "failed"
    assert failed["error"].startswith(f"could not download {NOT_CACHED}: the Hugging Face Hub is unreachable"), \
        failed["error"]


def test_the_catalogue_is_fastvideos_registry(real: Server) -> None:
    def probed() -> dict[str, Any] | None:
        models = {m["id"]: m for m in real.client.get("/api/models").json()}
        return models if "Lightricks/LTX-2.3" in models else None

    models = wait_for(probed, timeout=120, what="the registry probe")
    fastvideo_models = [m for m in models.values() if m["id"] != "fastvideo-ui/preview"]
    # 0.2.1 registers 40 text-to-video models (two are Stable Audio, whose output is a .wav,
    # and four also take an image) and 29 that take only an image.
    by_input = {kind: sorted(m["id"] for m in fastvideo_models if m["image_input"] == kind)
                for kind in ("none", "optional", "required")}
    assert {kind: len(ids) for kind, ids in by_input.items()} == {"none": 34, "optional": 4, "required": 29}
    assert "Wan-AI/Wan2.2-TI2V-5B-Diffusers" in by_input["optional"]
    assert "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers" in by_input["required"]
    assert not any("stable-audio" in model_id for model_id in models)
    wan = models[WAN]
    assert wan["available"] and {k: wan["defaults"][k] for k in (
        "height", "width", "num_frames", "fps", "num_inference_steps", "guidance_scale")} == {
        "height": 480, "width": 832, "num_frames": 81, "fps": 16, "num_inference_steps": 50, "guidance_scale": 3.0}
    assert wan["defaults"]["negative_prompt"].startswith("Bright tones, overexposed")


# What FastVideo's own configs say, by family (pixel multiple, frame form), and
# so what jobs are refused at create instead of failing on a GPU.
SIZE_RULES = {
    WAN: (16, "4k+1"),
    "Wan-AI/Wan2.2-T2V-A14B-Diffusers": (16, "4k+1"),
    "Wan-AI/Wan2.2-TI2V-5B-Diffusers": (32, "4k+1"),
    "hunyuanvideo-community/HunyuanVideo": (16, "4k+1"),
    "hunyuanvideo-community/HunyuanVideo-1.5-Diffusers-480p_t2v": (16, "4k+1"),
    "nvidia/Cosmos-Predict2-2B-Video2World": (16, "4k+1"),
    "Lightricks/LTX-2": (32, "8k+1"),
}


def test_size_rules_come_from_fastvideos_configs(real: Server) -> None:
    from fastvideo_ui.jobs.catalogue import FASTVIDEO_MODELS

    models = wait_for(lambda: (found := {m["id"]: m for m in real.client.get("/api/models").json()})
                      .get("Lightricks/LTX-2.3") and found, timeout=120, what="the registry probe")
    for model_id, (multiple, form) in SIZE_RULES.items():
        limits = models[model_id]["limits"]
        assert (limits["height"]["multiple_of"], limits["width"]["multiple_of"], limits["num_frames"]["form"]) == (
            multiple, multiple, form), model_id
    # The built-in catalogue, used when fastvideo is not installed, says the same.
    for spec in FASTVIDEO_MODELS:
        built_in = {name: rule.as_json() for name, rule in spec.limits.items()}
        probed = models[spec.id]["limits"]
        assert built_in["height"] == probed["height"] and built_in["num_frames"] == probed["num_frames"], spec.id
        assert sorted(spec.features) == models[spec.id]["features"], spec.id  # read from its config, as built in
    refused = real.client.post("/api/jobs", json={"prompt": "p", **TINY, "height": 72})
    assert refused.status_code == 422 and "multiple of 16" in refused.json()["detail"][0]["msg"]


def test_a_server_stopped_while_its_first_worker_imports_fastvideo_leaves_nothing_running(
        tiny_wan_home: Path, tmp_path: Path) -> None:
    """With a GPU, a worker starts with the server and imports FastVideo for
    seconds (it reads the registry too: no probe process is started)."""
    server = Server(tmp_path, ["--gpus", "0"], env=real_env(tiny_wan_home), python=real_python()).start()
    try:
        worker = wait_for(lambda: next(iter(server.health()["workers"]), None), timeout=30,
                          what="the worker started with the server")
        tree = [psutil.Process(worker["pid"]), *psutil.Process(worker["pid"]).children(recursive=True)]
        assert server.proc is not None
        assert not any("fastvideo_catalogue" in " ".join(child.cmdline())
                       for child in psutil.Process(server.proc.pid).children())
    finally:
        server.terminate()
    for process in tree:
        assert process_gone(process.pid), f"pid {process.pid} outlived its server: {process.cmdline()}"


def test_a_server_stopped_while_it_reads_fastvideos_registry_leaves_no_probe_running(
        tiny_wan_home: Path, tmp_path: Path) -> None:
    """Without GPUs the registry probe, a child process, imports torch and
    FastVideo for seconds: a server stopped meanwhile must end it, not leave it
    running on its own."""
    server = Server(tmp_path, ["--gpus", "none"], env=real_env(tiny_wan_home), python=real_python()).start()
    try:
        assert server.proc is not None
        parent = psutil.Process(server.proc.pid)

        def the_probe() -> psutil.Process | None:
            return next((child for child in parent.children() if "fastvideo_catalogue" in " ".join(child.cmdline())),
                        None)

        probe = wait_for(the_probe, timeout=30, what="the registry probe to start")
    finally:
        server.terminate()
    assert process_gone(probe.pid), f"the probe (pid {probe.pid}) outlived its server: {probe.cmdline()}"
