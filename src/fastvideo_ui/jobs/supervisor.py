"""Sees each run through: starts or reuses its worker, relays its progress and
log, stops it (cooperatively, then its whole process tree), and records how it
ended. It owns the device allocation and the worker processes; the scheduler
decides what starts where, and reads them only through `snapshot`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from ..backends.registry import FASTVIDEO, backend_spec
from ..database.tables import JobRow
from ..oserrors import describe_exit
from ..spec.fields import JobParams
from ..spec.rules import params_of, uploads_of
from ..weights.downloads import Download, WeightsUnavailable
from ..workers.devices import Inventory
from ..workers.handle import WorkerHandle
from ..workers.process import WorkerProcess
from ..workers.ray_fleet import RayFleet
from ..workers.protocol import TERMINAL, Completed, Crashed, Failed, Outcome, RunJob, Stopped, decode_outcome
from .inputs import InputUnavailable, Resolver, Stopping, resolve_inputs
from .logs import LogBook
from .metrics import Metrics
from .placement import take_given
from .publisher import JobPublisher
from .run import Run, Snapshot
from .run_end import ending
from .states import Action, IllegalTransition
from .store import JobNotFound, JobStore
from .wakeup import Wakeup
from .warm_start import WarmStarts
from .run_progress import RunProgress

log = logging.getLogger("fastvideo_ui.scheduler")


_OUTCOME_LABEL = {Action.COMPLETE: "completed", Action.FAIL: "failed", Action.STOP: "stopped",
                  Action.RETRY: "retried"}


WeightsGate = Callable[[str, Callable[[Download], None], Callable[[], bool], tuple[str, ...]], Awaitable[bool]]


class RunSupervisor:
    def __init__(self, store: JobStore, logs: LogBook, publisher: JobPublisher, wake: Wakeup,
                 inventory: Inventory, output_dir: Path, stop_grace_s: float, metrics: Metrics,
                 uploads_dir: Path | None = None, fleet: RayFleet | None = None,
                 fetch_weights: WeightsGate | None = None, resolvers: Mapping[str, Resolver] | None = None) -> None:
        self.store = store
        self.metrics = metrics
        self.logs = logs
        self.publisher = publisher
        self.wake = wake  # told when a run ends
        self.inventory = inventory
        self.output_dir = output_dir
        self.uploads_dir = uploads_dir or output_dir.parent / "uploads"
        self.stop_grace_s = stop_grace_s
        self._allocated: dict[str, str] = {}
        self._runs: dict[str, Run] = {}
        self._workers: list[WorkerHandle] = []
        self.fleet = fleet  # --ray: GPU jobs run on the cluster
        self._next_worker_id = 1
        self._tasks: set[asyncio.Task[Any]] = set()
        self.closing = False
        # Run before a FastVideo job's worker loads its model: fetches missing
        # weights with progress (weights.downloads.DownloadManager.ensure).
        self.fetch_weights = fetch_weights
        self.warm = WarmStarts()  # workers started before any job
        self.progress = RunProgress(store, logs, publisher, metrics, wake)  # what runs report, recorded
        self.resolvers = dict(resolvers or {})  # by name: what a `resolve` field's value becomes for the worker
        self.on_completed: Callable[[JobRow], None] = lambda row: None  # a completed run (the scheduler's history)

    # -- what the scheduler reads ----------------------------------------------

    def snapshot(self) -> Snapshot:
        return Snapshot(dict(self._allocated), [worker.describe() for worker in self._workers], len(self._runs))

    def run_of(self, job_id: str) -> Run | None:
        return self._runs.get(job_id)

    def is_running(self, job_id: str) -> bool:
        return job_id in self._runs

    def busy_devices(self) -> dict[str, float | None]:
        """Each allocated device and the seconds until its run is expected to end."""
        return {device: self._runs[job_id].ends_in_s() if job_id in self._runs else None
                for device, job_id in self._allocated.items()}

    def idle_workers(self) -> list[WorkerHandle]:
        return [w for w in self._workers if w.job_id is None and (w.alive or self.warm.starting(w))]

    # -- life cycle --------------------------------------------------------------

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        self.closing = True
        # All at once: a Ray worker's kill is a round trip to its node.
        await asyncio.gather(*(worker.kill() for worker in list(self._workers)), return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()
        # A request still draining (a delete waits for its job's run) must not wait on a cancelled one.
        for run in self._runs.values():
            run.done.set()

    def launch(self, row: JobRow, run: Run, worker_id: int | None, retire: tuple[int, ...]) -> None:
        """Start `run` (its job already dispatched in the store) on its devices."""
        for device in run.devices:
            self._allocated[device] = run.job_id
        worker = next((w for w in self._workers if w.worker_id == worker_id), None)
        if worker is not None:
            worker.job_id = run.job_id
        evict = [w for w in self._workers if w.worker_id in retire]
        for idle in evict:
            self._workers.remove(idle)
        self.logs.reset_write_error(run.job_id)  # a new run gets a fresh chance at the disk
        self.logs.hold_open(run.job_id)
        run.row = row
        self._runs[run.job_id] = run
        self.publisher.job(row)
        self._spawn(self._execute(run, worker, evict))

    async def _execute(self, run: Run, worker: WorkerHandle | None, evict: list[WorkerHandle]) -> None:
        outcome: Outcome
        for idle in evict:
            self.logs.server_line(run.job_id, f"retiring idle worker {idle.worker_id} "
                                              f"(model {idle.loaded.model_id if idle.loaded else 'none'}) "
                                              f"to free {','.join(idle.devices)}")
        # All at once, and while the run's own worker starts: only its load needs their devices free.
        retired = asyncio.gather(*(idle.shutdown() for idle in evict))
        try:
            if (self.fetch_weights is not None and backend_spec(run.backend).needs_weights and self.fleet is None
                    and not await self._weights_ready(run, run.config.model_id)):
                await asyncio.gather(retired, return_exceptions=True)
                await self._finish(run, Stopped())
                return
            run.resolved = await resolve_inputs(params_of(self._dispatched(run)), self.resolvers,
                                                lambda repo, args=(): self._weights_ready(run, repo, args))
            if worker is not None:
                await self.warm.until_up(worker)  # one started with the server may not be up yet
                if not worker.alive:
                    worker = None  # it could not start, or ended since it was placed: a worker of the run's own
            if worker is None:
                worker = self._new_worker(run)
                self._workers.append(worker)
                await worker.start()
                self._take_devices_given(run, worker.devices)
            await retired
            run.worker = worker
            where = "CPU slot" if run.kind == "cpu" else "GPU"
            node = f" on Ray node {self.inventory.node_names.get(self.inventory.nodes.get(run.devices[0], ''), '?')}" \
                if self.inventory.nodes and run.devices else ""
            self.logs.server_line(run.job_id, f"started on {where} {','.join(run.devices)}{node} "
                                              f"(worker {worker.worker_id}, pid {worker.pid})")
            if run.stop_requested:
                outcome = Stopped()
            else:
                worker.expect_job_log(run.job_id)
                await worker.send(self._run_message(run))
                outcome = await run.outcome
                await worker.wait_job_log_end(run.job_id)
        except (WeightsUnavailable, InputUnavailable) as exc:
            outcome = Failed(str(exc))
        except Stopping:
            outcome = Stopped()
        except Exception as exc:  # noqa: BLE001 - the job fails, the server stays up
            if worker is not None and worker.exit_reason:  # a Ray node lost as its worker started
                outcome = Crashed(-1, worker.exit_reason)
            else:
                log.exception("job %s: could not run", run.job_id)
                outcome = Failed(f"could not start a worker: {exc}")
        await asyncio.gather(retired, return_exceptions=True)  # never a run's devices while one still holds them
        await self._finish(run, outcome)

    async def warm_start(self) -> list[dict[str, Any]] | None:
        """With local GPUs, a FastVideo worker on the first, started now
        (`prestart`); FastVideo's registry as it read it, or None."""
        gpus = self.inventory.devices(FASTVIDEO.device_kind)
        if not gpus or self.fleet is not None:
            return None  # on Ray, the cluster's nodes start their own workers
        held = {*self._allocated, *(device for worker in self._workers for device in worker.devices)}
        if gpus[0] in held:
            return None  # a job queued before a restart took it first: that job's worker imports FastVideo now
        return await self.prestart(FASTVIDEO.name, gpus[:1], registry=True)

    async def prestart(self, backend: str, devices: tuple[str, ...], registry: bool = False
                       ) -> list[dict[str, Any]] | None:
        """An idle worker on `devices`, started before any job with its backend's
        library imported, for the first job that fits to take (placement prefers
        it, even while it starts). With `registry`, the models that library
        registers, read in that worker once no job waits; None: not read."""
        worker = WorkerProcess(self._take_worker_id(), backend_spec(backend).device_kind, devices,
                               self.inventory.cuda_visible_devices(devices), self._on_message, self._on_log,
                               self._on_exit)
        self.wake.kick()  # a job queued already may take it
        return await self.warm.start(worker, self._workers, backend, registry)

    def _dispatched(self, run: Run) -> JobRow:
        """The job's row as its dispatch left it: its fields do not change while it
        runs, and reading it back cost more than the rest of a run's bookkeeping."""
        return run.row if run.row is not None else self.store.require(run.job_id)

    def _take_worker_id(self) -> int:
        worker_id = self._next_worker_id
        self._next_worker_id += 1
        return worker_id

    def _new_worker(self, run: Run) -> WorkerHandle:
        worker_id = self._take_worker_id()
        worker: WorkerHandle
        if self.fleet is not None and run.kind == "gpu":
            worker = self.fleet.worker(worker_id, run.devices, self._on_message, self._on_log, self._on_exit)
        else:
            worker = WorkerProcess(worker_id, run.kind, run.devices, self.inventory.cuda_visible_devices(run.devices),
                                   self._on_message, self._on_log, self._on_exit)
        worker.job_id = run.job_id
        return worker

    def _take_devices_given(self, run: Run, given: tuple[str, ...]) -> None:
        """The run holds the GPUs Ray gave its actor (placement.take_given)."""
        if any(device not in self.inventory.nodes for device in given):
            return  # not labels this server knows (a node started with its own CUDA_VISIBLE_DEVICES)
        changed = take_given(self._allocated, run.job_id, run.devices, given)
        for job_id in changed:
            for device in [d for d, holder in self._allocated.items() if holder == job_id]:
                del self._allocated[device]
        for job_id, devices in changed.items():
            for device in devices:
                self._allocated[device] = job_id
            moved = self._runs.get(job_id)
            if moved is not None:
                moved.devices = devices
            self.store.update_running(job_id, devices=",".join(devices))

    async def _weights_ready(self, run: Run, repo: str, args: tuple[str, ...] = ()) -> bool:
        """A Hub repo's weights (the model's, or a LoRA's) are in the cache,
        fetched now if they were not; the job shows "downloading 12.3 / 28.0 GB"
        meanwhile. False: stopped. Without a fetcher (on Ray), True: the
        worker's own load says what is missing."""
        if self.fetch_weights is None:
            return True
        said: list[bool] = []

        def report(download: Download) -> None:
            if not said:
                said.append(True)
                self.logs.server_line(run.job_id, f"the weights of {repo} are not in the cache: fetching them first")
            done = download.bytes_total is not None and download.status == "done"
            fraction = download.bytes_done / download.bytes_total if download.bytes_total else 0.0
            waiting = download.status == "waiting"  # other models' fetches hold every slot
            fields = {"phase": "waiting to download" if waiting else "downloading",
                      "progress_msg": "waiting for a free download slot (--max-downloads)" if waiting
                      else f"downloading {download.amounts()}",
                      "progress": round(100.0 * min(fraction, 1.0), 1),
                      "eta_seconds": download.as_json()["eta_seconds"]}
            if done:
                self.logs.server_line(run.job_id, f"weights fetched: {download.amounts()}")
            self.progress.show(run, fields)

        return await self.fetch_weights(repo, report, lambda: run.stop_requested, args)

    def _run_message(self, run: Run) -> dict[str, Any]:
        row = self._dispatched(run)
        params: JobParams = params_of(row)
        return RunJob(run_id=run.run_id, backend=run.backend, model=run.config, job_id=row.id,
                      params=params, output_path=self.output_dir / f"{row.id}.mp4",
                      poster_path=self.output_dir / f"{row.id}.jpg",
                      uploads={name: self.uploads_dir / f"{upload}.png" for name, upload in uploads_of(params).items()},
                      resolved=run.resolved).encode()

    async def _finish(self, run: Run, outcome: Outcome) -> None:
        if self.closing:
            # The scheduler has recorded how every running job ends at shutdown
            # (run_end.shutdown_ending); this end is the shutdown's kill. Failing
            # the job now would undo that: a queued job may fail, too.
            log.debug("job %s: its run ended at shutdown: %s", run.job_id, outcome)
        else:
            self._record_end(run, outcome)
        for device in run.devices:
            if self._allocated.get(device) == run.job_id:
                del self._allocated[device]
        worker = run.worker
        if worker is not None:
            worker.job_id = None
            if not isinstance(outcome, (Completed, Stopped)) and worker in self._workers:
                self._workers.remove(worker)  # a failed worker is not trusted with the next job
                self._spawn(worker.shutdown())
        self._runs.pop(run.job_id, None)
        self.logs.release(run.job_id)
        run.done.set()
        self.wake.run_ended()

    def _record_end(self, run: Run, outcome: Outcome) -> None:
        action, fields, lines = ending(run, outcome, self._dispatched(run), self.front_of_queue)
        if action is Action.COMPLETE and run.step_seconds is not None:
            fields["step_seconds"] = round(run.step_seconds, 4)
        self.metrics.runs_ended.labels(run.config.model_id, _OUTCOME_LABEL[action]).inc()
        if action is Action.COMPLETE:
            self.metrics.run_seconds.labels(run.config.model_id).observe(time.monotonic() - run.started)
        try:
            row = self.store.transition(run.job_id, action, **fields)
            if action is Action.COMPLETE:
                try:
                    self.on_completed(row)
                except Exception:  # noqa: BLE001 - estimates are the scheduler's; the run's end is recorded
                    log.exception("job %s: its run could not be added to the run history", run.job_id)
            for line in lines:
                self.logs.server_line(run.job_id, line)
            self.publisher.job(row)
        except (IllegalTransition, JobNotFound) as exc:
            log.warning("job %s: could not record its end: %s", run.job_id, exc)

    def front_of_queue(self) -> float:
        ranks = [job.queue_rank for job in self.store.queue_order()]
        return min(ranks) - 1 if ranks else time.time()

    # -- stop --------------------------------------------------------------------

    async def stop(self, run: Run) -> None:
        """Cooperative stop now; the whole process tree after the grace period."""
        if run.stop_requested:
            return
        run.stop_requested = True
        self.progress.show(run, {"phase": "stopping", "eta_seconds": None})
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
            run.outcome.set_result(Stopped())

    # -- worker callbacks ----------------------------------------------------------

    async def _on_message(self, worker: WorkerHandle, message: dict[str, Any]) -> None:
        if self.warm.take(worker, message):
            return
        kind = message["type"]
        run = self._runs.get(worker.job_id or "")
        if run is None or run.worker is not worker:
            return
        if kind in TERMINAL:
            if not run.outcome.done():
                run.outcome.set_result(decode_outcome(message))
        elif kind == "warning":
            self.progress.warned(run, str(message.get("text") or ""))
        elif kind == "loaded":
            worker.backend = run.backend
            self.metrics.model_loads.labels(run.config.model_id).inc()
            seconds = message.get("seconds")
            self.logs.server_line(run.job_id, f"model {run.config.model_id} loaded in {seconds} s")
            if isinstance(seconds, (int, float)):
                self.store.update_running(run.job_id, load_seconds=float(seconds))
        elif kind == "phase":  # a worker of an earlier version (a Ray node not yet upgraded)
            self.progress.reported(run, phase=str(message.get("phase")))
        elif kind == "progress":
            step, total, elapsed = message.get("step"), message.get("total"), message.get("elapsed")
            self.progress.reported(run, phase=message.get("phase"), step=None if step is None else int(step),
                                   total=None if total is None else int(total),
                                   elapsed=float(elapsed) if isinstance(elapsed, (int, float)) else None)

    def _on_log(self, worker: WorkerHandle, job_id: str | None, lines: list[str]) -> None:
        run = self._runs.get(job_id or "")
        if run is not None:
            self.logs.append_lines(run.job_id, lines)
            error = self.logs.write_error(run.job_id)
            if error and not run.stop_requested:
                # GPU time spent on a job whose log is lost is wasted: end it and say why.
                run.abort_error = error
                self._spawn(self.stop(run))
        else:
            for line in lines:
                log.info("worker %s: %s", worker.worker_id, line)

    async def _on_exit(self, worker: WorkerHandle, returncode: int) -> None:
        if worker in self._workers:
            self._workers.remove(worker)
        self.warm.ended(worker)
        run = self._runs.get(worker.job_id or "")
        if run is not None and not run.outcome.done():
            run.outcome.set_result(Crashed(returncode, worker.exit_reason))
        # A worker whose backend cannot stop between steps ends its own process
        # group on a stop: that SIGKILL was asked for too.
        asked = worker.ended_on_purpose or (run is not None and run.stop_requested)
        if self.closing and worker.ended_on_purpose and not worker.exit_reason:
            # The shutdown's own SIGKILL: naming the signal would read like a fault.
            how = "ended with the server"
        else:
            how = worker.exit_reason or describe_exit(returncode, oom_hint=not asked)
        log.info("worker %s (pid %s) %s", worker.worker_id, worker.pid, how)
