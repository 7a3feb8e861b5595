"""Hands queued jobs to worker processes on free devices, and sees each run to its end.

One pool of devices per kind (GPUs, CPU slots). Each pool is strictly first in,
first out: when the job at the head of a pool's queue cannot get its devices,
later jobs of that pool wait too, so a 2-GPU job is never starved by 1-GPU ones.
A job gets disjoint devices, and a worker bound to exactly them; an idle worker
that already holds the job's model is preferred, so repeats skip the load.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..backends.base import ModelConfig
from ..backends.offload import OFFLOAD_FIELDS
from ..workers.devices import Inventory
from ..oserrors import describe_exit
from ..workers.process import WorkerProcess
from ..workers.protocol import TERMINAL
from .catalogue import find_model
from .events import EventBus
from .logs import LogBook
from .models import JobRow
from .serialize import job_json, progress_json
from .states import Action, IllegalTransition, JobStatus
from .store import JobNotFound, JobStore

log = logging.getLogger("fastvideo_ui.scheduler")


@dataclass
class Run:
    job_id: str
    run_id: str
    kind: str
    devices: tuple[str, ...]
    config: ModelConfig
    backend: str
    started: float = field(default_factory=time.monotonic)
    worker: WorkerProcess | None = None
    outcome: asyncio.Future[dict[str, Any]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    done: asyncio.Event = field(default_factory=asyncio.Event)
    stop_requested: bool = False
    forced: bool = False
    phase: str = "starting"
    denoise_started: float | None = None
    abort_error: str | None = None  # the server ended it (e.g. its log cannot be written): it failed


def model_config(row: JobRow) -> ModelConfig:
    return ModelConfig(model_id=row.model_id, num_gpus=row.num_gpus,
                       **{name: getattr(row, name) for name in OFFLOAD_FIELDS})


def _pct(step: int, total: int) -> float:
    return round(100.0 * step / total, 1) if total else 0.0


class Scheduler:
    def __init__(
        self,
        store: JobStore,
        logs: LogBook,
        bus: EventBus,
        inventory: Inventory,
        output_dir: Path,
        stop_grace_s: float,
    ) -> None:
        self.store = store
        self.logs = logs
        self.bus = bus
        self.inventory = inventory
        self.output_dir = output_dir
        self.stop_grace_s = stop_grace_s
        self.allocated: dict[str, str] = {}  # device -> job id
        self.runs: dict[str, Run] = {}
        self.workers: list[WorkerProcess] = []
        self.deleting: set[str] = set()
        self._next_worker_id = 1
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._last_positions: dict[str, int] = {}

    # -- life cycle ---------------------------------------------------------

    async def start(self) -> None:
        self._recover_interrupted()
        self._loop_task = asyncio.create_task(self._loop())
        self.kick()

    async def close(self) -> None:
        if self._loop_task:
            self._loop_task.cancel()
        self._recover_interrupted("the server shut down while this job was running")
        for worker in list(self.workers):
            await worker.kill()
        for task in list(self._tasks):
            task.cancel()

    def kick(self) -> None:
        self._wake.set()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _recover_interrupted(self, why: str = "the server stopped while this job was running") -> None:
        """A job that was running when the server stopped cannot be resumed."""
        now = time.time()
        for job_id in self.store.running_ids():
            row = self.store.require(job_id)
            ran = f" after {now - row.started_at:.0f} s" if row.started_at else ""
            error = f"interrupted: {why}{ran}"
            self.store.transition(job_id, Action.FAIL, error=error, finished_at=now, phase="failed",
                                  eta_seconds=None)
            self.logs.server_line(job_id, error)
            log.warning("job %s: %s", job_id, error)

    # -- queue --------------------------------------------------------------

    def queue_positions(self) -> dict[str, int]:
        """1-based place in its device pool's queue, for every queued job."""
        positions: dict[str, int] = {}
        counters: dict[str, int] = {}
        for job_id, model_id, _gpus in self.store.queue_order():
            spec = find_model(model_id)
            kind = spec.device_kind if spec else "cpu"
            counters[kind] = counters.get(kind, 0) + 1
            positions[job_id] = counters[kind]
        return positions

    def publish_queue(self) -> None:
        positions = self.queue_positions()
        if positions != self._last_positions:
            self._last_positions = positions
            self.bus.publish("queue", {"positions": positions})

    def publish_job(self, row: JobRow, event: str = "updated") -> None:
        position = self.queue_positions().get(row.id) if row.status == JobStatus.QUEUED.value else None
        self.bus.publish(event, job_json(row, position))

    async def _loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                self._dispatch()
            except Exception:  # noqa: BLE001 - the loop must outlive one bad pass
                log.exception("dispatch pass failed")
            self.publish_queue()

    def _dispatch(self) -> None:
        blocked: set[str] = set()
        # The queue can be long: walk it as (id, model, gpus) and load a whole
        # row only for a job that is launched or failed.
        for job_id, model_id, num_gpus in self.store.queue_order():
            if job_id in self.deleting or job_id in self.runs:
                continue
            spec = find_model(model_id)
            if spec is None:
                self._fail_queued(job_id, f"model {model_id} is no longer in the catalogue")
                continue
            kind = spec.device_kind
            pool = self.inventory.devices(kind)
            if num_gpus > len(pool):
                self._fail_queued(job_id, f"needs {num_gpus} devices; this server now has {len(pool)}")
                continue
            if kind in blocked:
                continue
            free = [device for device in pool if device not in self.allocated]
            if len(free) < num_gpus:
                blocked.add(kind)
                continue
            row = self.store.get(job_id)
            if row is not None:
                self._launch(row, kind, spec.backend, pool, free)

    def _fail_queued(self, job_id: str, error: str) -> None:
        row = self.store.transition(job_id, Action.FAIL, error=error, finished_at=time.time(), phase="failed")
        self.logs.server_line(row.id, error)
        self.publish_job(row)

    def _launch(self, row: JobRow, kind: str, backend: str, pool: tuple[str, ...], free: list[str]) -> None:
        config = model_config(row)
        devices, worker, evict = self._choose(kind, pool, free, row.num_gpus, config, backend)
        try:
            row = self.store.transition(
                row.id, Action.DISPATCH, started_at=time.time(), finished_at=None,
                devices=",".join(devices), attempts=row.attempts + 1, phase="starting",
                progress=0.0, progress_msg="", step=None, total_steps=None, eta_seconds=None, error=None,
            )
        except (IllegalTransition, JobNotFound):
            return
        for device in devices:
            self.allocated[device] = row.id
        if worker is not None:
            worker.job_id = row.id
        for idle in evict:
            self.workers.remove(idle)
        self.logs.reset_write_error(row.id)  # a new run gets a fresh chance at the disk
        run = Run(row.id, f"{row.id}#{row.attempts}", kind, devices, config, backend)
        self.runs[row.id] = run
        self.publish_job(row)
        self._spawn(self._execute(run, worker, evict))

    def _choose(
        self, kind: str, pool: tuple[str, ...], free: list[str], count: int, config: ModelConfig, backend: str
    ) -> tuple[tuple[str, ...], WorkerProcess | None, list[WorkerProcess]]:
        """Devices for a job, the idle worker to reuse if any, and idle workers to retire."""
        idle = [w for w in self.workers if w.job_id is None and w.alive and w.device_kind == kind]
        fits = [w for w in idle if len(w.devices) == count and set(w.devices) <= set(free)]
        for worker in fits:
            if worker.loaded == config and worker.backend == backend:
                return worker.devices, worker, []
        # Keep other idle workers' models warm where there is room elsewhere.
        held = {device for w in idle for device in w.devices}
        ranked = sorted(free, key=lambda device: (device in held, pool.index(device)))
        chosen = tuple(sorted(ranked[:count], key=pool.index))
        for worker in fits:
            if set(worker.devices) == set(chosen):
                return chosen, worker, []
        evict = [w for w in idle if set(w.devices) & set(chosen)]
        return chosen, None, evict

    # -- one run --------------------------------------------------------------

    async def _execute(self, run: Run, worker: WorkerProcess | None, evict: list[WorkerProcess]) -> None:
        outcome: dict[str, Any]
        try:
            for idle in evict:
                self.logs.server_line(run.job_id, f"retiring idle worker {idle.worker_id} "
                                                  f"(model {idle.loaded.model_id if idle.loaded else 'none'}) "
                                                  f"to free {','.join(idle.devices)}")
                await idle.shutdown()
            if worker is None:
                worker = WorkerProcess(self._next_worker_id, run.kind, run.devices,
                                       self.inventory.cuda_visible_devices(run.devices),
                                       self._on_message, self._on_log, self._on_exit)
                self._next_worker_id += 1
                worker.job_id = run.job_id
                self.workers.append(worker)
                await worker.start()
            run.worker = worker
            where = "CPU slot" if run.kind == "cpu" else "GPU"
            self.logs.server_line(run.job_id, f"started on {where} {','.join(run.devices)} "
                                              f"(worker {worker.worker_id}, pid {worker.pid})")
            if run.stop_requested:
                outcome = {"type": "stopped"}
            else:
                worker.expect_job_log(run.job_id)
                await worker.send(self._run_message(run))
                outcome = await run.outcome
                await worker.wait_job_log_end(run.job_id)
        except Exception as exc:  # noqa: BLE001 - the job fails, the server stays up
            log.exception("job %s: could not run", run.job_id)
            outcome = {"type": "failed", "error": f"could not start a worker: {exc}"}
        await self._finish(run, outcome)

    def _run_message(self, run: Run) -> dict[str, Any]:
        row = self.store.require(run.job_id)
        return {
            "type": "run",
            "run_id": run.run_id,
            "backend": run.backend,
            "model": run.config.as_json(),
            "job": {
                "id": row.id, "prompt": row.prompt, "negative_prompt": row.negative_prompt,
                "num_inference_steps": row.num_inference_steps, "num_frames": row.num_frames,
                "height": row.height, "width": row.width, "guidance_scale": row.guidance_scale,
                "seed": row.seed, "fps": row.fps,
            },
            "output_path": str(self.output_dir / f"{row.id}.mp4"),
            "poster_path": str(self.output_dir / f"{row.id}.jpg"),
        }

    async def _finish(self, run: Run, outcome: dict[str, Any]) -> None:
        now = time.time()
        took = f"{time.monotonic() - run.started:.1f} s"
        kind = outcome["type"]
        action, fields, line = Action.FAIL, {}, ""
        if kind == "completed" and Path(outcome["video_path"]).is_file():
            action = Action.COMPLETE
            fields = {"output_path": outcome["video_path"], "poster_path": outcome.get("poster_path"),
                      "progress": 100.0, "phase": "done", "eta_seconds": 0.0}
            line = f"completed in {took}"
        elif run.abort_error is not None and kind in ("stopped", "crashed"):
            error = run.abort_error
            fields = {"error": error, "phase": "failed", "eta_seconds": None}
            line = f"failed after {took}: {error}"
        elif kind == "stopped" or (kind == "crashed" and run.stop_requested):
            action = Action.STOP
            fields = {"phase": "stopped", "eta_seconds": None}
            if run.forced:
                how = "forced: the worker did not stop in time and its process tree was killed"
            elif kind == "crashed":
                how = "its backend cannot stop between steps, so its worker's process tree was killed"
            else:
                how = "at the next step"
            line = f"stopped after {took} ({how})"
        else:
            if kind == "completed":
                error = f"the worker reported success but {outcome['video_path']} does not exist"
            elif kind == "crashed":
                error = f"worker process {describe_exit(outcome['returncode'])} while {run.phase}"
            else:
                error = outcome.get("error") or "failed"
            fields = {"error": error, "phase": "failed", "eta_seconds": None}
            line = f"failed after {took}: {error}"
        try:
            row = self.store.transition(run.job_id, action, finished_at=now, **fields)
            self.logs.server_line(run.job_id, line)
            self.publish_job(row)
        except (IllegalTransition, JobNotFound) as exc:
            log.warning("job %s: could not record its end: %s", run.job_id, exc)
        for device in run.devices:
            if self.allocated.get(device) == run.job_id:
                del self.allocated[device]
        worker = run.worker
        if worker is not None:
            worker.job_id = None
            if kind != "completed" and kind != "stopped" and worker in self.workers:
                self.workers.remove(worker)  # a failed worker is not trusted with the next job
                self._spawn(worker.shutdown())
        self.runs.pop(run.job_id, None)
        run.done.set()
        self.kick()

    # -- stop -----------------------------------------------------------------

    async def stop_running(self, run: Run) -> None:
        """Cooperative stop now; the whole process tree after the grace period."""
        if run.stop_requested:
            return
        run.stop_requested = True
        if self.store.update_running(run.job_id, phase="stopping", eta_seconds=None):
            self.bus.publish("progress", progress_json(self.store.require(run.job_id)))
        self.logs.server_line(run.job_id, f"stop requested; waiting up to {self.stop_grace_s:g} s "
                                          f"for the job to stop at its next step")
        if run.worker is not None and run.worker.alive:
            try:
                await run.worker.send({"type": "stop", "run_id": run.run_id})
            except (RuntimeError, OSError):
                pass
        self._spawn(self._enforce_stop(run))

    async def _enforce_stop(self, run: Run) -> None:
        try:
            await asyncio.wait_for(asyncio.shield(run.done.wait()), self.stop_grace_s)
            return
        except asyncio.TimeoutError:
            pass
        run.forced = True
        worker = run.worker
        if worker is not None and worker.alive:
            self.logs.server_line(run.job_id, f"not stopped after {self.stop_grace_s:g} s: killing "
                                              f"worker {worker.worker_id} (pid {worker.pid}) and its children")
            await worker.kill()
        elif not run.outcome.done():
            run.outcome.set_result({"type": "stopped"})

    # -- worker callbacks -------------------------------------------------------

    async def _on_message(self, worker: WorkerProcess, message: dict[str, Any]) -> None:
        run = self.runs.get(worker.job_id or "")
        if run is None or run.worker is not worker:
            return
        kind = message["type"]
        if kind in TERMINAL:
            if not run.outcome.done():
                run.outcome.set_result(message)
        elif kind == "loaded":
            worker.backend = run.backend
            self.logs.server_line(run.job_id, f"model {run.config.model_id} loaded in {message.get('seconds')} s")
        elif kind == "phase":
            self._progress(run, phase=message["phase"])
        elif kind == "progress":
            self._progress(run, step=int(message["step"]), total=int(message["total"]))

    def _progress(self, run: Run, phase: str | None = None, step: int | None = None,
                  total: int | None = None) -> None:
        if run.stop_requested:
            return  # keep showing "stopping"
        fields: dict[str, Any] = {}
        if phase is not None:
            run.phase = phase
            fields["phase"] = phase
            if phase == "denoising":
                run.denoise_started = time.monotonic()
        if step is not None and total:
            if run.denoise_started is None:
                run.denoise_started = time.monotonic()
            elapsed = time.monotonic() - run.denoise_started
            eta = elapsed / step * (total - step) if step else None
            fields.update(step=step, total_steps=total, progress=_pct(step, total),
                          progress_msg=f"{step}/{total} steps",
                          eta_seconds=round(eta, 1) if eta is not None else None)
        if fields and self.store.update_running(run.job_id, **fields):
            self.bus.publish("progress", progress_json(self.store.require(run.job_id)))

    def _on_log(self, worker: WorkerProcess, job_id: str | None, lines: list[str]) -> None:
        run = self.runs.get(job_id or "")
        if run is not None:
            self.logs.append_lines(run.job_id, lines)
            error = self.logs.write_error(run.job_id)
            if error and not run.stop_requested:
                # GPU time spent on a job whose log is lost is wasted: end it and say why.
                run.abort_error = error
                self._spawn(self.stop_running(run))
        else:
            for line in lines:
                log.info("worker %s: %s", worker.worker_id, line)

    async def _on_exit(self, worker: WorkerProcess, returncode: int) -> None:
        if worker in self.workers:
            self.workers.remove(worker)
        run = self.runs.get(worker.job_id or "")
        if run is not None and not run.outcome.done():
            run.outcome.set_result({"type": "crashed", "returncode": returncode})
        # A worker whose backend cannot stop between steps ends its own process
        # group on a stop: that SIGKILL was asked for too.
        asked = worker.ended_on_purpose or (run is not None and run.stop_requested)
        log.info("worker %s (pid %s) %s", worker.worker_id, worker.pid, describe_exit(returncode, oom_hint=not asked))
