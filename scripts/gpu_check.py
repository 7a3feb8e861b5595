"""The prepared GPU check: the tiny Wan 2.1 checkpoint through the server on a
real GPU, then the same generation through FastVideo directly.

    python3 scripts/gpu_check.py              # on an NVIDIA machine (scripts/gpu-check.sh)
    python3 scripts/gpu_check.py --cpu-dry-run  # here, with the real-FastVideo environment

It prints, and exits 1 if any does not hold:
- a job completes, with the denoising steps the server saw;
- a stopped job's GPU memory is given back: NVML's used memory returns to its
  baseline once the job is stopped (skipped, and said so, in the CPU dry run);
- a LoRA (a tiny random one for the checkpoint): a job with it on the warm
  worker switches it in without a load (the switch's time, from the job's
  log), its frames differ from the plain job's, another strength differs
  again, and a job without it makes the plain job's frames;
- the runner's overhead against a direct VideoGenerator call with the same
  parameters: a cold job (worker start, load, generate) against a fresh
  process doing from_pretrained + generate_video, and a warm job on the
  loaded worker against a second generate_video call.

No network is needed: the checkpoint is built locally into an offline Hugging
Face cache. The CPU dry run adds tests/real_fastvideo/site (the CPU shims) to
PYTHONPATH; on a GPU nothing is shimmed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
WAN = "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"
BUILD = ROOT / "tests" / "real_fastvideo" / "build_tiny_wan.py"
BUILD_LORA = ROOT / "tests" / "real_fastvideo" / "build_tiny_lora.py"
SITE = ROOT / "tests" / "real_fastvideo" / "site"
MEMORY_SLACK = 64 * 2**20  # NVML counts a little driver bookkeeping

DIRECT = r"""
import json, sys, time
def main():
    params = json.loads(sys.argv[1])
    started = time.monotonic()
    from fastvideo import VideoGenerator
    generator = VideoGenerator.from_pretrained(params.pop("model"), num_gpus=1, dit_layerwise_offload=True,
                                               dit_cpu_offload=False, text_encoder_cpu_offload=True,
                                               vae_cpu_offload=True, use_fsdp_inference=False)
    loaded = time.monotonic()
    out = params.pop("out")
    generator.generate_video(params.pop("prompt"), output_path=out + "/a.mp4", save_video=True,
                             return_frames=False, **params)
    first = time.monotonic()
    generator.generate_video("a second prompt", output_path=out + "/b.mp4", save_video=True,
                             return_frames=False, **params)
    second = time.monotonic()
    generator.shutdown()
    print("DIRECT " + json.dumps({"load_s": loaded - started, "cold_s": first - started,
                                  "warm_s": second - first}), flush=True)
if __name__ == "__main__":
    main()
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gpu_memory_used() -> int | None:
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - no driver: the dry run
        return None
    try:
        return int(pynvml.nvmlDeviceGetMemoryInfo(pynvml.nvmlDeviceGetHandleByIndex(0)).used)
    finally:
        pynvml.nvmlShutdown()


def frames(path: Path) -> Any:
    """The video's frames, decoded with imageio's ffmpeg (PyAV is not on the device)."""
    import imageio.v2 as imageio
    import numpy as np

    with imageio.get_reader(str(path), "ffmpeg") as reader:
        return np.stack([frame for frame in reader])


def lora_case(runner: Runner, work: Path, env: dict[str, str], params: dict[str, Any],
              plain: dict[str, Any], failures: list[str]) -> None:
    """The warm worker switches a LoRA in and out; the frames say it applied, and that it left."""
    lora = work / "tiny-lora.safetensors"
    subprocess.run([sys.executable, str(BUILD_LORA), str(lora), "--hf-home", str(work / "hf"), "--seed", "1"],
                   env=env, check=True, capture_output=True, timeout=300)
    added = runner.client.post("/api/loras", params={"name": lora.name}, content=lora.read_bytes(),
                               headers={"Content-Type": "application/octet-stream"})
    if added.status_code != 201:
        failures.append(f"the LoRA upload was refused: {added.status_code} {added.text}")
        return
    jobs = {}
    for label, loras in (("lora 1.0", [{"lora": lora.name, "strength": 1.0}]),
                         ("lora 0.5", [{"lora": lora.name, "strength": 0.5}]), ("none", [])):
        job, _ = runner.follow(runner.job(prompt="a red fox runs through the snow", loras=loras, **params)["id"],
                               ("completed", "failed", "stopped"), timeout=300)
        log = runner.client.get(f"/api/jobs/{job['id']}/logs").text
        switched = next((line.split("merged in ")[1].split(" ms")[0] for line in log.splitlines()
                         if "LoRAs now merged in" in line), "?")
        print(f"job ({label}): {job['status']}, load {job['load_seconds']}, switch {switched} ms, "
              f"run {job['finished_at'] - job['started_at']:.2f} s")
        if job["status"] != "completed" or job["load_seconds"] is not None:
            failures.append(f"the {label} job ended {job['status']} (load {job['load_seconds']}): {job['error']}")
            return
        jobs[label] = job
    seen = {}
    for label, job in (("plain", plain), *jobs.items()):
        path = work / f"{label.replace(' ', '-')}.mp4"
        path.write_bytes(runner.client.get(f"/api/jobs/{job['id']}/video").content)
        seen[label] = frames(path)
    changed = {label: float(abs(seen[label].astype(int) - seen["plain"].astype(int)).max()) for label in jobs}
    print(f"  largest pixel change from the plain job: {changed}")
    if not changed["lora 1.0"] or not changed["lora 0.5"] or (seen["lora 1.0"] == seen["lora 0.5"]).all():
        failures.append("the LoRA did not change the frames (or its strength did not)")
    if changed["none"]:
        failures.append("a job without the LoRA after it did not make the plain job's frames")


def keep_evidence(work: Path, keep: str | None) -> None:
    """Copy the server's output and the job logs out of the scratch directory (a
    device machine hands back only what its command leaves in one folder)."""
    if not keep:
        return
    target = Path(keep)
    target.mkdir(parents=True, exist_ok=True)
    for path in [work / "server.out", *sorted((work / "data").rglob("*.log"))]:
        if path.is_file():
            shutil.copyfile(path, target / path.name)


def mib(value: int | None) -> str:
    return "n/a" if value is None else f"{value / 2**20:.0f} MiB"


class Runner:
    def __init__(self, work: Path, env: dict[str, str]) -> None:
        self.work = work
        self.port = free_port()
        self.output = open(work / "server.out", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fastvideo_ui.server", "--port", str(self.port), "--data-dir",
             str(work / "data"), "--gpus", "0"], env=env, stdout=self.output, stderr=subprocess.STDOUT)
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30)
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                self.output.close()
                tail = (work / "server.out").read_text(errors="replace")[-4000:]
                raise SystemExit(f"the server exited with {self.proc.returncode}:\n{tail}")
            try:
                if self.client.get("/api/health").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the server did not answer in 60 s")
            time.sleep(0.1)

    def job(self, **body: Any) -> dict[str, Any]:
        response = self.client.post("/api/jobs", json={"model_id": WAN, "start": True, **body})
        if response.status_code != 201:
            raise SystemExit(f"creating a job failed: {response.status_code} {response.text}")
        return response.json()

    def get(self, job_id: str) -> dict[str, Any]:
        return self.client.get(f"/api/jobs/{job_id}").json()

    def follow(self, job_id: str, until: tuple[str, ...], timeout: float, min_step: int | None = None
               ) -> tuple[dict[str, Any], list[int]]:
        """Poll the job until it is in one of `until` (or reaches `min_step`); the steps seen."""
        steps: list[int] = []
        deadline = time.monotonic() + timeout
        while True:
            job = self.get(job_id)
            if job["step"] and (not steps or steps[-1] != job["step"]):
                steps.append(job["step"])
            if job["status"] in until or (min_step is not None and (job["step"] or 0) >= min_step):
                return job, steps
            if time.monotonic() > deadline:
                raise SystemExit(f"job {job_id} is still {job['status']} after {timeout} s")
            time.sleep(0.02)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.output.close()
        keep_evidence(self.work, os.environ.get("GPU_CHECK_KEEP"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpu-dry-run", action="store_true", help="run on this CPU with the test-only shims")
    args = parser.parse_args()
    dry = args.cpu_dry_run
    # On the GPU the check is worth its time at a real size; on the CPU it proves the script.
    params = (dict(height=64, width=64, num_frames=5, num_inference_steps=8, guidance_scale=3.0, seed=7, fps=8)
              if dry else
              dict(height=480, width=832, num_frames=33, num_inference_steps=20, guidance_scale=3.0, seed=7, fps=16))
    # Long enough that a stop lands mid-run even when progress reaches the server
    # late (the tiny model at 64x64 did 200 steps before a loaded machine's
    # first poll saw one).
    long_job = (dict(params, height=512, width=512, num_frames=33, num_inference_steps=200) if dry else
                dict(params, height=720, width=1280, num_frames=81, num_inference_steps=200))
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="fastvideo-ui-gpu-check-") as scratch:
        work = Path(scratch)
        paths = [str(ROOT / "src"), *([str(SITE)] if dry else []), os.environ.get("PYTHONPATH", "")]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, paths)), HF_HOME=str(work / "hf"),
                   HF_HUB_OFFLINE="1")
        env.pop("CUDA_VISIBLE_DEVICES", None)
        started = time.monotonic()
        subprocess.run([sys.executable, str(BUILD), str(work / "hf")], env=env, check=True, capture_output=True)
        print(f"tiny checkpoint built in {time.monotonic() - started:.1f} s")
        baseline = gpu_memory_used()
        print(f"GPU memory before anything: {mib(baseline)}" + (" (no NVML: CPU dry run)" if baseline is None else ""))

        runner = Runner(work, env)
        try:
            cold, steps = runner.follow(runner.job(prompt="a red fox runs through the snow", **params)["id"],
                                        ("completed", "failed", "stopped"), timeout=300)
            ok = cold["status"] == "completed"
            print(f"job 1 (cold: worker start, load, generate): {cold['status']}"
                  + ("" if ok else f" ({cold['error']})"))
            print(f"  steps seen: {steps} of {cold['total_steps']}")
            if not ok or not steps or steps[-1] != params["num_inference_steps"]:
                failures.append("the cold job did not complete with its last step seen")
            warm, steps = runner.follow(runner.job(prompt="a second prompt", **params)["id"],
                                        ("completed", "failed", "stopped"), timeout=300)
            print(f"job 2 (warm: the loaded worker): {warm['status']}, steps seen: {steps}")
            if warm["status"] != "completed":
                failures.append(f"the warm job ended {warm['status']}: {warm['error']}")
            lora_case(runner, work, env, params, cold, failures)

            long = runner.job(prompt="waves on a rocky shore, to be stopped", **long_job)
            running, _ = runner.follow(long["id"], ("completed", "failed", "stopped"), timeout=300, min_step=3)
            during = gpu_memory_used()
            runner.client.post(f"/api/jobs/{long['id']}/stop")
            stopped, _ = runner.follow(long["id"], ("completed", "failed", "stopped"), timeout=60)
            after = gpu_memory_used()
            deadline = time.monotonic() + 30
            while baseline is not None and after is not None and after > baseline + MEMORY_SLACK \
                    and time.monotonic() < deadline:
                time.sleep(0.5)
                after = gpu_memory_used()
            print(f"stop at step {running['step']}: {stopped['status']}; GPU memory baseline {mib(baseline)}, "
                  f"while running {mib(during)}, after the stop {mib(after)}")
            if stopped["status"] != "stopped":
                failures.append(f"the stopped job ended {stopped['status']}")
            if baseline is not None and (after is None or after > baseline + MEMORY_SLACK):
                failures.append("GPU memory did not return to its baseline after the stop")
        finally:
            runner.stop()

        direct_params = dict(params, model=WAN, prompt="a red fox runs through the snow", out=str(work))
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-c", DIRECT, json.dumps(direct_params)], env=env,
                              capture_output=True, text=True, timeout=400)
        wall = time.monotonic() - started
        line = next((text for text in done.stdout.splitlines() if text.startswith("DIRECT ")), None)
        if done.returncode != 0 or line is None:
            print(done.stdout[-3000:], done.stderr[-3000:], sep="\n")
            failures.append("the direct VideoGenerator call failed")
        else:
            direct = json.loads(line[len("DIRECT "):])
            runner_cold = cold["finished_at"] - cold["created_at"]
            runner_warm = warm["finished_at"] - warm["started_at"]
            print(f"direct VideoGenerator: process {wall:.1f} s, from_pretrained {direct['load_s']:.1f} s, "
                  f"first generate_video done at {direct['cold_s']:.1f} s, second took {direct['warm_s']:.2f} s")
            print(f"runner overhead, cold: job {runner_cold:.1f} s against {wall:.1f} s for the direct process "
                  f"({runner_cold - wall:+.1f} s, x{runner_cold / wall:.2f})")
            print(f"runner overhead, warm: job {runner_warm:.2f} s against {direct['warm_s']:.2f} s "
                  f"({runner_warm - direct['warm_s']:+.2f} s, x{runner_warm / direct['warm_s']:.2f})")
    for failure in failures:
        print(f"FAILED: {failure}")
    print("GPU check: " + ("passed" if not failures else "failed") + (" (CPU dry run)" if dry else ""))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
