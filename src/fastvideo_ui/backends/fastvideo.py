"""FastVideo, run inside a worker process (never in the server).

The worker keeps one generator loaded for the next job with the same
(model_id, num_gpus, offload flags), and shuts it down before loading another.
Progress comes from FastVideo's own console output (see fastvideo_output).
FastVideo has no cancel hook, so this backend cannot stop between steps: the
worker kills its process tree, FastVideo's GPU workers included.

A FastVideo GPU worker that fails sends SIGQUIT to this process
(worker/multiproc_executor.py, `worker_main`), whose default action would end
our worker before the error is reported. It is caught here, and the failure
arrives as FastVideo's "Forward execution thread failed" (or a load error);
the worker's own report, read from its output, says what really happened.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ..oserrors import describe_exit
from ..spec.fields import FIELDS, FieldSpec, JobParams
from .base import GenerationRequest, GenerationResult, ModelConfig, Reporter
from .fastvideo_lora import AdapterState, LoraRefused, adapters_of
from .fastvideo_output import Notice, OutputParser, Phase, Step
from .offload import memory_advice
from .output_tap import OutputTap

log = logging.getLogger("fastvideo_ui.fastvideo")

BACKEND = "fastvideo"  # the name jobs/catalogue.py gives this backend
_tap: OutputTap | None = None
_tap_lock = threading.Lock()


def _ours(f: FieldSpec) -> bool:
    """The field means something to this backend (Applies by backend; the
    model-dependent conditions were checked when the job was created)."""
    return f.applies.backends is None or BACKEND in f.applies.backends


def load_kwargs(config: ModelConfig) -> dict[str, Any]:
    """from_pretrained's keywords: the spec's fastvideo="load" fields, by
    FastVideo's name for each, from the reuse key (the model id goes
    positionally). A field left null is left out: FastVideo's default
    (sp_size -1, "derive it") is not ours to restate."""
    values = {"num_gpus": config.num_gpus, **dict(config.options)}
    return {f.fastvideo_name or f.name: values[f.name] for f in FIELDS
            if f.fastvideo == "load" and _ours(f) and not f.env and values[f.name] is not None}


# What this worker was started with: a job that leaves an `env` field null gets the server's own setting back.
_INHERITED = {f.env: os.environ.get(f.env) for f in FIELDS if f.env}


def load_environment(config: ModelConfig) -> dict[str, str | None]:
    """The variables the load sets in this worker's environment (its FastVideo GPU
    workers inherit them): each `env` field's value; where the job leaves it null,
    what the worker started with (None: unset), not an earlier job's choice."""
    values = dict(config.options)
    return {f.env: _INHERITED.get(f.env) if values[f.name] is None else str(values[f.name])
            for f in FIELDS if f.env and _ours(f)}


def sampling_kwargs(params: JobParams, uploads: Mapping[str, Path] = MappingProxyType({})) -> dict[str, Any]:
    """generate_video's keywords: the spec's fastvideo="sample" fields, by name
    (the prompt goes positionally), and an upload field's file as
    "<name>_path" where the job names one. The negative prompt is a str even
    when empty, as JobParams types it: FastVideo keeps None, and its text
    encoding asserts a str when guidance > 1 (stages/text_encoding.py)."""
    sampled = [f for f in FIELDS if f.fastvideo == "sample" and _ours(f)]
    return ({f.name: getattr(params, f.name) for f in sampled if not f.upload}
            | {f"{f.name}_path": str(uploads[f.name]) for f in sampled if f.upload and f.name in uploads})


class FastVideoBackend:
    cooperative_stop = False  # a stop kills the worker's process tree at once

    def __init__(self) -> None:
        self.generator: Any = None
        self.config: ModelConfig | None = None
        self.parser = OutputParser()
        self.reporter: Reporter | None = None
        self.phase = "loading model"
        self.model_id: str | None = None
        self.gpu_worker_signalled = False
        self.lora_names: dict[str, str] = {}  # a LoRA file FastVideo names in its output -> the job's name for it
        self.adapters = AdapterState()  # the LoRAs the loaded generator holds
        self._reached_none: set[str] = set()  # this job's LoRA files that reached no layer

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
            elif isinstance(event, Notice) and reporter is not None:
                if event.layers == 0:
                    self._reached_none.add(event.lora_path)
                elif event.lora_path in self._reached_none:
                    continue  # its weights all missed: said once already
                reporter.warn(self._notice_text(event))

    def _notice_text(self, notice: Notice) -> str:
        """A partly applied LoRA in words, named as the job names it (FastVideo names its file)."""
        name = self.lora_names.get(notice.lora_path, notice.lora_path)
        if notice.layers == 0:
            return (f"LoRA {name} matched no layer of {self.model_id}: FastVideo skipped all of its weights, "
                    f"so it changed nothing")
        return (f"LoRA {name}: {notice.unmatched_weights} of its weights matched no layer of {self.model_id} "
                f"and were skipped")

    # -- the backend protocol ----------------------------------------------------

    def _on_sigquit(self, signum: int, frame: object) -> None:
        self.gpu_worker_signalled = True
        log.warning("a FastVideo GPU worker failed (it sent SIGQUIT); its error follows")

    def prepare(self) -> None:
        """FastVideo imported (torch with it), before any job asks for a model."""
        os.environ.setdefault("FASTVIDEO_STAGE_LOGGING", "1")  # as _load sets it: read once, at import
        self._install_tap()
        from fastvideo import VideoGenerator  # noqa: F401 - the import is the point

    def registry(self) -> list[dict[str, Any]]:
        """FastVideo's registered models, as the catalogue adopts them (fastvideo_catalogue)."""
        from .fastvideo_catalogue import probe

        return probe()

    def load(self, config: ModelConfig, reporter: Reporter, first: GenerationRequest | None = None) -> None:
        """The model; with `first`, the LoRA it needs applied at load (a dense one), so its job loads once."""
        wanted = adapters_of(first.resolved.get("loras", ())) if first is not None else ()
        lora = AdapterState.load_kwargs(wanted)
        self._load(config, reporter, lora)
        self.adapters = AdapterState(wanted if lora else ())

    def _load(self, config: ModelConfig, reporter: Reporter, lora: dict[str, Any]) -> None:
        # Stage lines are FastVideo's only phase signal; its workers read this
        # when they start, so it is set before the load spawns them.
        os.environ.setdefault("FASTVIDEO_STAGE_LOGGING", "1")
        signal.signal(signal.SIGQUIT, self._on_sigquit)  # the worker runs jobs on its main thread
        self._install_tap()
        self.reporter = reporter
        self.parser.reset()
        self.gpu_worker_signalled = False
        self.phase = "loading model"
        self.model_id = config.model_id
        self.config = config
        reporter.phase("loading model")
        from fastvideo import VideoGenerator  # imported here: torch loads in the worker only

        log.info("loading %s on %d GPU(s) [CUDA_VISIBLE_DEVICES=%s]", config.model_id, config.num_gpus,
                 os.environ.get("CUDA_VISIBLE_DEVICES", ""))
        for name, value in load_environment(config).items():
            if value is None:
                os.environ.pop(name, None)
            else:
                log.info("%s=%s", name, value)
                os.environ[name] = value
        try:
            # An image-to-video pipeline is another load of the same id (t2v stays FastVideo's default).
            workload = {} if config.workload_type == "t2v" else {"workload_type": config.workload_type}
            self.generator = VideoGenerator.from_pretrained(config.model_id, **load_kwargs(config), **workload, **lora)
        finally:
            _drain()

    def generate(self, request: GenerationRequest, reporter: Reporter) -> GenerationResult:
        assert self.generator is not None, "load() first"
        self.reporter = reporter
        self.parser.reset()
        params = request.params
        self.parser.expect_echo_of(params.prompt, params.negative_prompt)
        self.gpu_worker_signalled = False
        self._adapt(request, reporter)
        self.phase = "starting"
        reporter.phase("starting")
        request.output_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            result = self.generator.generate_video(
                params.prompt,
                output_path=str(request.output_path),
                save_video=True,
                # True (the default) holds a pinned fp32 copy of the whole video in
                # this process (1.3 GB at 121x704x1280); the file is all we keep.
                return_frames=False,
                **sampling_kwargs(params, request.uploads),
            )
        finally:
            _drain()  # every line of this job before its END marker, and any GPU worker's error
        if isinstance(result, list):
            result = result[0] if result else {}
        video = Path(str((result or {}).get("video_path") or ""))
        if not video.is_file():
            raise RuntimeError(f"FastVideo reported no saved video (video_path={video!s})")
        if video.resolve() != request.output_path.resolve():
            shutil.move(str(video), request.output_path)
        reporter.phase("saving")
        # No poster of its own: the worker draws one as it tags the file, in the same read of it.
        return GenerationResult(request.output_path, None)

    def _adapt(self, request: GenerationRequest, reporter: Reporter) -> None:
        """The job's LoRAs merged: switched at run time, or (a dense adapter) by loading the model again."""
        wanted = adapters_of(request.resolved.get("loras", ()))
        self.lora_names = {adapter.path: adapter.name for adapter in wanted}
        self._reached_none = set()
        reason = self.adapters.reload_reason(wanted)
        if reason is not None:
            assert self.config is not None
            log.info("loading %s again: %s", self.config.model_id, reason)
            config, lora = self.config, AdapterState.load_kwargs(wanted)
            self.unload()
            self._load(config, reporter, lora)
            self.adapters = AdapterState(wanted if lora else ())
        if self.adapters.applied != wanted:
            self.phase = "applying LoRAs"
            reporter.phase("applying LoRAs")
            started = time.perf_counter()
            try:
                self.adapters.switch(self.generator, wanted)
            finally:
                _drain()
            log.info("LoRAs now merged in %.1f ms: %s", (time.perf_counter() - started) * 1000,
                     ", ".join(f"{a.name} at {a.strength:g}" for a in wanted) or "none")

    def unload(self) -> None:
        generator, self.generator, self.config = self.generator, None, None
        if generator is not None:
            log.info("shutting down the loaded model to free its GPUs")
            generator.shutdown()

    def explain_error(self, exc: BaseException) -> str | None:
        visible = [d for d in os.environ.get("FASTVIDEO_UI_WORKER_DEVICES", "").split(",") if d]
        dead = self._dead_gpu_workers()
        # Only a worker that died without a word (killed: no report of its own) is worth waiting for.
        if (self.parser.worker_error is None and not any(code for _, code in dead)
                and (self.gpu_worker_signalled or _FORWARD_FAILED in str(exc))):
            dead = self._dead_gpu_workers(wait_s=DEAD_WORKER_WAIT_S)
        failure = GpuWorkerFailure(self.parser.worker_error, dead, self.gpu_worker_signalled)
        options = self.config.as_json() if self.config else {}
        return explain_error(exc, self.phase, visible, self.model_id, options, failure)

    def _dead_gpu_workers(self, wait_s: float = 0.0) -> list[tuple[int, int]]:
        """(rank, exit code) of each FastVideo GPU worker that has ended; with
        `wait_s`, waiting that long for one that failed to be reapable."""
        deadline = time.monotonic() + wait_s
        workers = getattr(getattr(self.generator, "executor", None), "workers", None) or []
        while True:
            dead = []
            for index, worker in enumerate(workers):
                code = getattr(getattr(worker, "proc", None), "exitcode", None)
                if code is not None:
                    dead.append((int(getattr(worker, "rank", index)), int(code)))
            if any(code for _, code in dead) or len(dead) == len(workers) or time.monotonic() >= deadline:
                return dead
            time.sleep(0.02)


def _drain() -> None:
    if _tap is not None:
        _tap.drain()


_OOM = re.compile(r"out of memory", re.IGNORECASE)
_GPU = re.compile(r"GPU (\d+)")
_NOT_FOUND = (
    "is not a local folder and is not a valid model identifier",
    "Repository Not Found",
    "RepositoryNotFoundError",
    "does not appear to have a file named",
)
_OFFLINE = (
    "LocalEntryNotFoundError", "OfflineModeIsEnabled", "Cannot connect", "offline mode", "Max retries exceeded",
    "cannot find the requested files in the local cache", "Failed to download or parse a Diffusers manifest",
)
_FORWARD_FAILED = "Forward execution thread failed"
# A killed GPU worker's pipes close before the kernel lets its parent reap it: the
# failure can reach us first, and on a loaded machine its exit code a little later.
DEAD_WORKER_WAIT_S = 1.0


@dataclass(frozen=True)
class GpuWorkerFailure:
    """What FastVideo's GPU workers left behind when a call failed."""

    report: str | None  # the "Worker N hit an exception" text a worker logged
    exits: list[tuple[int, int]]  # (rank, exit code) of workers that have ended
    signalled: bool  # a worker sent SIGQUIT


def _exception_text(exc: BaseException) -> str:
    parts, seen = [], set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts.append(f"{type(current).__name__}: {current}")
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else text.strip()


def explain_error(exc: BaseException, phase: str, visible: list[str], model_id: str | None,
                  options: dict[str, Any] | None = None, failure: GpuWorkerFailure | None = None) -> str | None:
    """A one-line error a user can act on, or None for the generic one.

    `visible` names the job's GPUs as the user knows them, in CUDA's order, so
    CUDA's "GPU 1" becomes the id the user gave for it."""
    failure = failure or GpuWorkerFailure(None, [], False)
    if isinstance(exc, LoraRefused):
        return str(exc)
    text = _exception_text(exc)
    evidence = text + "\n" + (failure.report or "")
    # The last such line: a traceback quotes source lines before the exception's own message.
    oom = next((line for line in reversed(evidence.splitlines()) if _OOM.search(line)), None)
    if oom is not None:
        match = _GPU.search(oom)
        gpu = ""
        if match:
            index = int(match.group(1))
            gpu = f" on GPU {visible[index] if index < len(visible) else index}"
        return f"CUDA out of memory{gpu} while {phase}: {memory_advice(options or {})}"
    if any(needle in text for needle in _NOT_FOUND):
        return (f"model {model_id or '(unknown)'} was not found: it is neither a local directory nor a "
                f"Hugging Face model id (check the spelling, or that the repository is public)")
    if any(needle in evidence for needle in _OFFLINE):
        return (f"could not download {model_id or 'the model'}: the Hugging Face Hub is unreachable and the "
                f"weights are not in the local cache (HF_HOME)")
    if isinstance(exc, ValueError) and "divisible by 8" in text:
        return f"FastVideo refused the size: {exc}"
    if failure.report:
        who = failure.report.split(":", 1)[0]  # "rank N"
        return f"a FastVideo GPU worker failed while {phase} ({who}): {_last_line(failure.report)}"
    if _FORWARD_FAILED in text or failure.signalled:
        died = [(rank, code) for rank, code in failure.exits if code != 0]
        if died:
            rank, code = died[0]
            how = ("was " if code < 0 else "") + describe_exit(code)
            return f"a FastVideo GPU worker (rank {rank}) {how} while {phase}"
        return f"a FastVideo GPU worker died while {phase}"
    return None
