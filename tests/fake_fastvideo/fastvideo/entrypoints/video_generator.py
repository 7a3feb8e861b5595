"""The fake VideoGenerator: FastVideo 0.2.1's signatures, a child per GPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import av
import numpy as np

from .._log import log
from ..lora import FakeLoraPipeline
from ..registry import get_registered_model_paths


class _Proc:
    """The part of multiprocessing's Process that callers read: exitcode."""

    def __init__(self, popen: subprocess.Popen) -> None:
        self.popen = popen

    @property
    def exitcode(self) -> int | None:
        return self.popen.poll()


class _WorkerHandle:  # worker/multiproc_executor.py WorkerProcHandle
    def __init__(self, rank: int, popen: subprocess.Popen) -> None:
        self.rank = rank
        self.proc = _Proc(popen)


class _Executor:
    def __init__(self, workers: list[subprocess.Popen]) -> None:
        self.workers = [_WorkerHandle(rank, popen) for rank, popen in enumerate(workers)]


def _check_visible_devices() -> None:
    """platforms/cuda.py:83-95: every CUDA_VISIBLE_DEVICES entry goes through int()."""
    for entry in (os.environ.get("CUDA_VISIBLE_DEVICES") or "").split(","):
        if entry:
            int(entry)


def _record(event: dict[str, Any]) -> None:
    path = os.environ.get("FAKE_FASTVIDEO_RECORD")
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(event) + "\n")


class VideoGenerator:
    def __init__(self, model_path: str, kwargs: dict[str, Any]) -> None:
        self.model_path = model_path
        self.kwargs = kwargs
        num_gpus = int(kwargs.get("num_gpus", 1))
        log("Loading pipeline modules...", "composed_pipeline_base.py", 113)
        self.workers = [
            subprocess.Popen([sys.executable, "-m", "fastvideo._gpu_worker", str(rank)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            for rank in range(num_gpus)
        ]
        self.executor = _Executor(self.workers)
        log("Creating pipeline stages...", "composed_pipeline_base.py", 276)
        self.pipeline = FakeLoraPipeline()
        if kwargs.get("lora_path"):  # lora_pipeline.py:209-219: the constructor's adapter, dense payload allowed
            from ..models.loader.lora_patch import DenseLoRAPatch

            if DenseLoRAPatch.from_adapter(kwargs["lora_path"]) is not None:
                self.pipeline.constructor_dense = kwargs["lora_path"]
            self.pipeline.set_lora_adapter(kwargs.get("lora_nickname", "default"), kwargs["lora_path"],
                                           float(kwargs.get("lora_strength", 1.0)), False, constructing=True)
        _record({"event": "load", "model": model_path, "kwargs": kwargs, "pid": os.getpid(),
                 "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
                 "cuda_device_order": os.environ.get("CUDA_DEVICE_ORDER"),
                 "attention_backend_env": os.environ.get("FASTVIDEO_ATTENTION_BACKEND"),
                 "worker_pids": [w.pid for w in self.workers]})

    @classmethod
    def from_pretrained(
        cls,
        model_path: str | None = None,
        **kwargs,
    ) -> "VideoGenerator":
        if model_path is None:
            raise TypeError("model_path or config is required")
        _check_visible_devices()
        if model_path not in get_registered_model_paths() and not Path(model_path).is_dir():
            raise OSError(f"{model_path} is not a local folder and is not a valid model identifier listed on "
                          "'https://huggingface.co/models'")
        return cls(model_path, kwargs)

    def generate_video(
        self,
        prompt: str | None = None,
        sampling_param: Any = None,
        mouse_cond: Any = None,
        keyboard_cond: Any = None,
        grid_sizes: Any = None,
        **kwargs,
    ) -> dict[str, Any] | list[dict[str, Any]]:
        warnings.warn("VideoGenerator.generate_video(...) is deprecated", DeprecationWarning, stacklevel=2)
        height, width = int(kwargs["height"]), int(kwargs["width"])
        if height % 8 or width % 8:
            raise ValueError(f"Height and width must be divisible by 8 but are {height} and {width}.")
        started = time.monotonic()
        log(f"height: {height}\n width: {width}\n prompt: {prompt}", "video_generator.py", 773)
        mode = next((m for m in ("oom", "hang", "crash", "missing-output") if f"[{m}]" in (prompt or "")), "")
        command = {"type": "run", "steps": int(kwargs["num_inference_steps"]), "mode": mode,
                   "step_s": float(os.environ.get("FAKE_FASTVIDEO_STEP_S", "0.05")),
                   "guidance_scale": float(kwargs.get("guidance_scale", 1.0)),
                   "negative_prompt": kwargs.get("negative_prompt")}
        _record({"event": "generate", "model": self.model_path, "kwargs": kwargs, "prompt": prompt,
                 "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")})
        for worker in self.workers:
            worker.stdin.write(json.dumps(command) + "\n")
            worker.stdin.flush()
        for worker in self.workers:
            answer = worker.stdout.readline()
            while answer and not answer.startswith("{"):  # the worker's own log lines (fastvideo logs at import)
                sys.stdout.write(answer)
                answer = worker.stdout.readline()
            if not answer:
                # entrypoints/video_generator.py:836: the pipe's EOFError, wrapped.
                raise RuntimeError("Forward execution thread failed.\nTraceback (most recent call last):\n"
                                   "  File \"multiproc_executor.py\", line 286, in collective_rpc\n"
                                   "    response = worker.pipe.recv()\nEOFError")
            json.loads(answer)
        log(f"Generated successfully in {time.monotonic() - started:.2f} seconds", "video_generator.py", 865)
        output = Path(kwargs["output_path"])
        if output.suffix != ".mp4":
            output = output / f"{(prompt or 'video')[:100]}.mp4"
        if mode != "missing-output":
            _write_mp4(output, int(kwargs["num_frames"]), width, height, int(kwargs["fps"]), int(kwargs["seed"]),
                       self.pipeline.shade())
            log(f"Saved video to {output}", "video_generator.py", 991)
        return {"video_path": str(output), "prompt": prompt, "generation_time": time.monotonic() - started}

    def set_lora_adapter(self,
                         lora_nickname: str,
                         lora_path: str | None = None,
                         strength: float = 1.0,
                         accumulate: bool = False) -> None:
        """Runs in FastVideo's GPU workers: an exception there ends the worker (SIGQUIT to this process), and
        this call then fails with the pipe's EOFError (worker/multiproc_executor.py:584-593)."""
        _record({"event": "lora", "nickname": lora_nickname, "path": lora_path, "strength": strength,
                 "accumulate": accumulate})
        try:
            self.pipeline.set_lora_adapter(lora_nickname, lora_path, strength, accumulate)
        except Exception as exc:  # noqa: BLE001 - as the real worker reports it, then dies
            for worker in self.workers[:1]:
                worker.stdin.write(json.dumps({"type": "fail", "error": f"{type(exc).__name__}: {exc}"}) + "\n")
                worker.stdin.flush()
                worker.wait(10)
            raise EOFError() from None
        log(f"Worker 0 set LoRA adapter {lora_nickname} with path {lora_path}", "gpu_worker.py", 127)

    def shutdown(self):
        for worker in self.workers:
            try:
                worker.stdin.write(json.dumps({"type": "exit"}) + "\n")
                worker.stdin.flush()
            except OSError:
                pass
        for worker in self.workers:
            worker.wait(10)
        _record({"event": "shutdown", "model": self.model_path})


def _write_mp4(path: Path, frames: int, width: int, height: int, fps: int, seed: int, shade: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    base = (rng.integers(0, 255, size=3) + shade) % 255
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for index in range(frames):
            image = np.empty((height, width, 3), dtype=np.uint8)
            image[:] = (base + index * 7) % 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
