"""FastVideo, run inside a worker process (never in the server).

The worker keeps one generator loaded for the next job with the same
(model_id, num_gpus, offload flags), and shuts it down before loading another.
Progress comes from FastVideo's own console output (see fastvideo_output).
FastVideo has no cancel hook, so this backend cannot stop between steps: the
worker kills its process tree, FastVideo's GPU workers included.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import threading
from pathlib import Path
from typing import Any

from .base import GenerationRequest, GenerationResult, ModelConfig, Reporter
from .fastvideo_output import OutputParser, Phase, Step
from .media import poster_from_video
from .output_tap import OutputTap

log = logging.getLogger("fastvideo_ui.fastvideo")

_tap: OutputTap | None = None
_tap_lock = threading.Lock()


class FastVideoBackend:
    cooperative_stop = False  # a stop kills the worker's process tree at once

    def __init__(self) -> None:
        self.generator: Any = None
        self.config: ModelConfig | None = None
        self.parser = OutputParser()
        self.reporter: Reporter | None = None
        self.phase = "loading model"
        self.model_id: str | None = None

    # -- output ------------------------------------------------------------------

    def _install_tap(self) -> None:
        global _tap
        with _tap_lock:
            if _tap is None:
                _tap = OutputTap(lambda text: None)
            _tap.on_text = self._on_text

    def _on_text(self, text: str) -> None:
        reporter = self.reporter
        for event in self.parser.feed(text):
            if isinstance(event, Phase):
                self.phase = event.name
                if reporter is not None:
                    reporter.phase(event.name)
            elif isinstance(event, Step) and reporter is not None and event.index > 0:
                reporter.step(event.index, event.total)

    # -- the backend protocol ----------------------------------------------------

    def load(self, config: ModelConfig, reporter: Reporter) -> None:
        # Stage lines are FastVideo's only phase signal; its workers read this
        # when they start, so it is set before the load spawns them.
        os.environ.setdefault("FASTVIDEO_STAGE_LOGGING", "1")
        self._install_tap()
        self.reporter = reporter
        self.phase = "loading model"
        self.model_id = config.model_id
        reporter.phase("loading model")
        from fastvideo import VideoGenerator  # imported here: torch loads in the worker only

        log.info("loading %s on %d GPU(s) [CUDA_VISIBLE_DEVICES=%s]", config.model_id, config.num_gpus,
                 os.environ.get("CUDA_VISIBLE_DEVICES", ""))
        self.generator = VideoGenerator.from_pretrained(
            config.model_id,
            num_gpus=config.num_gpus,
            dit_cpu_offload=config.dit_cpu_offload,
            text_encoder_cpu_offload=config.text_encoder_cpu_offload,
            vae_cpu_offload=config.vae_cpu_offload,
            use_fsdp_inference=config.use_fsdp_inference,
        )
        self.config = config

    def generate(self, request: GenerationRequest, reporter: Reporter) -> GenerationResult:
        assert self.generator is not None, "load() first"
        self.reporter = reporter
        self.parser.reset()
        self.phase = "starting"
        reporter.phase("starting")
        request.output_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            result = self.generator.generate_video(
                request.prompt,
                output_path=str(request.output_path),
                save_video=True,
                num_inference_steps=request.num_inference_steps,
                num_frames=request.num_frames,
                height=request.height,
                width=request.width,
                guidance_scale=request.guidance_scale,
                seed=request.seed,
                fps=request.fps,
                negative_prompt=request.negative_prompt or None,
            )
        finally:
            if _tap is not None:
                _tap.drain()  # every line of this job before its END marker
        if isinstance(result, list):
            result = result[0] if result else {}
        video = Path(str((result or {}).get("video_path") or ""))
        if not video.is_file():
            raise RuntimeError(f"FastVideo reported no saved video (video_path={video!s})")
        if video.resolve() != request.output_path.resolve():
            shutil.move(str(video), request.output_path)
        reporter.phase("saving")
        poster: Path | None = request.poster_path
        try:
            poster_from_video(request.output_path, request.poster_path)
        except Exception as exc:  # noqa: BLE001 - a missing poster does not fail the job
            log.warning("no poster: %s", exc)
            poster = None
        return GenerationResult(request.output_path, poster)

    def unload(self) -> None:
        generator, self.generator, self.config = self.generator, None, None
        if generator is not None:
            log.info("shutting down the loaded model to free its GPUs")
            generator.shutdown()

    def explain_error(self, exc: BaseException) -> str | None:
        visible = [d for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d]
        return explain_error(exc, self.phase, visible, self.model_id)


_OOM = re.compile(r"out of memory", re.IGNORECASE)
_GPU = re.compile(r"GPU (\d+)")
_NOT_FOUND = (
    "is not a local folder and is not a valid model identifier",
    "Repository Not Found",
    "RepositoryNotFoundError",
    "does not appear to have a file named",
)
_OFFLINE = ("LocalEntryNotFoundError", "Cannot connect", "offline mode", "Max retries exceeded")


def explain_error(exc: BaseException, phase: str, visible: list[str], model_id: str | None) -> str | None:
    """A one-line error a user can act on, or None for the generic one."""
    text = f"{type(exc).__name__}: {exc}"
    if _OOM.search(text):
        match = _GPU.search(text)
        gpu = ""
        if match:
            index = int(match.group(1))
            gpu = f" on GPU {visible[index] if index < len(visible) else index}"
        return (f"CUDA out of memory{gpu} while {phase}: try fewer frames, a smaller size, "
                f"or dit_cpu_offload")
    if any(needle in text for needle in _NOT_FOUND):
        return (f"model {model_id or '(unknown)'} was not found: it is neither a local directory nor a "
                f"Hugging Face model id (check the spelling, or that the repository is public)")
    if any(needle in text for needle in _OFFLINE):
        return (f"could not download {model_id or 'the model'}: the Hugging Face Hub is unreachable and the "
                f"weights are not in the local cache (HF_HOME)")
    if isinstance(exc, ValueError) and "divisible by 8" in text:
        return f"FastVideo refused the size: {exc}"
    return None
