"""Decides which queued jobs start, and hands them to the run supervisor.

Each pass reads the queue, the busy devices (with when each is expected to be
free) and the idle workers, asks `placement.place` what starts where, and
dispatches those jobs. A pass runs whenever something changes: a job queued,
stopped or deleted, a run ended.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from typing import Any

from ..backends.base import ModelConfig
from ..backends.registry import backend_spec
from ..database.tables import JobRow
from ..spec.fields import FIELDS
from ..spec.rules import params_of
from ..words import plural
from ..workers.devices import Inventory
from . import events
from .catalogue import Catalogue, ModelSpec
from .estimates import Estimate
from .history import RunHistory
from .fairness import OwedStarts
from .logs import LogBook
from .placement import Cluster, IdleWorker, Start, Waiting, passed, place
from .publisher import JobPublisher
from .run_end import shutdown_ending
from .states import Action, IllegalTransition
from .store import JobNotFound, JobStore
from .run import Run, Snapshot
from .serialize import PROGRESS_START
from .supervisor import RunSupervisor
from .wakeup import Wakeup

log = logging.getLogger("fastvideo_ui.scheduler")
PAUSED_KEY = "queue_paused"


# A job that names an upload (an input image) runs its model's image workload, another load.
_UPLOADS = tuple(f.name for f in FIELDS if f.upload)


def model_config(values: Any, spec: ModelSpec | None) -> ModelConfig:
    """The reuse key of a job's values by attribute (JobParams, or a queued job's params); `spec`: its
    model (None: no longer served)."""
    workload = "t2v"
    if any(getattr(values, name) for name in _UPLOADS) and spec is not None \
            and backend_spec(spec.backend).image_workloads:
        workload = spec.image_workload
    return ModelConfig.for_params(values, workload)


class Scheduler:
    def __init__(
        self,
        store: JobStore,
        logs: LogBook,
        publisher: JobPublisher,
        inventory: Inventory,
        catalogue: Catalogue,
        supervisor: RunSupervisor,
        wake: Wakeup,
        backfill: bool = True,
        affinity_wait_s: float = 0.0,
    ) -> None:
        self.store = store
        self.logs = logs
        self.publisher = publisher
        self.inventory = inventory
        self.catalogue = catalogue
        self.supervisor = supervisor
        self.wake = wake  # kicked by whatever may let a queued job start
        self.backfill = backfill
        self.affinity_wait_s = affinity_wait_s
        self._passed: dict[str, float] = {}  # queued job -> when a later job first started ahead of it
        self._owed = OwedStarts()  # each queued job's first-in-first-out start, which bounds affinity
        self._told: dict[str, str] = {}  # queued job -> why it waits, as its log last said
        self._deleting: set[str] = set()
        self._closed = False
        self._loop_task: asyncio.Task[None] | None = None
        self.history = RunHistory(store, catalogue)  # what run estimates are made from
        supervisor.on_completed = self.history.completed
        self._expected: dict[str, Estimate | None] = {}  # each placeable queued job's, as the last pass saw it
        self.paused = store.get_state(PAUSED_KEY) == "1"

    # -- life cycle ---------------------------------------------------------

    async def start(self) -> None:
        self._recover_interrupted()
        self._loop_task = asyncio.create_task(self._loop())
        self.kick()

    async def close(self) -> None:
        """A graceful shutdown. The jobs' new states are written before any
        worker is killed: a second Ctrl-C cuts the rest short, and a job whose
        worker is gone must not read as running (the next start would fail it
        as a crash). Called again, it does nothing."""
        if self._closed:
            return
        self._closed = True
        if self._loop_task:
            self._loop_task.cancel()
        self.supervisor.closing = True  # ends that race the kills below are expected, and not recorded
        self._end_running_at_shutdown()
        await self.supervisor.close()

    def kick(self) -> None:
        self.wake.kick()

    def set_paused(self, paused: bool) -> None:
        """A paused queue starts nothing new; running jobs finish. It stays
        paused across a restart."""
        self.store.set_state(PAUSED_KEY, "1" if paused else "0")
        self.paused = paused
        log.info("queue %s", "paused" if paused else "resumed")
        self.publish_queue(force=True)
        self.kick()

    def snapshot(self) -> Snapshot:
        return self.supervisor.snapshot()

    def run_of(self, job_id: str) -> Run | None:
        return self.supervisor.run_of(job_id)

    async def stop_running(self, run: Run) -> None:
        await self.supervisor.stop(run)

    # -- deletion guard: a job being deleted is never dispatched or restarted --

    def begin_delete(self, job_id: str) -> bool:
        """False when a delete of it is already under way."""
        if job_id in self._deleting:
            return False
        self._deleting.add(job_id)
        return True

    def end_delete(self, job_id: str) -> None:
        self._deleting.discard(job_id)

    def is_deleting(self, job_id: str) -> bool:
        return job_id in self._deleting

    def _end_running_at_shutdown(self) -> None:
        """Each running job back to the front of the queue (run_end.shutdown_ending).
        The latest started goes first, so that the earliest started ends up
        ahead: the running jobs keep their order among themselves."""
        rows = sorted((self.store.require(job_id) for job_id in self.store.running_ids()),
                      key=lambda row: row.started_at or 0.0, reverse=True)
        for row in rows:
            action, fields, lines = shutdown_ending(self.supervisor.run_of(row.id), row,
                                                    self.supervisor.front_of_queue)
            try:
                row = self.store.transition(row.id, action, **fields)
            except (IllegalTransition, JobNotFound):
                continue  # it ended meanwhile
            for line in lines:
                self.logs.server_line(row.id, line)
            self.publish_job(row)
            log.info("job %s: %s", row.id, lines[-1])

    def _recover_interrupted(self) -> None:
        """At start: a job still marked running was cut off by a crash (a
        graceful shutdown queues its running jobs again). Its run cannot be
        resumed, and the crash may have been its doing (host memory, say), so it
        fails rather than risk taking the server down again on every start."""
        why = "the server stopped while this job was running"
        now = time.time()
        for job_id in self.store.running_ids():
            row = self.store.require(job_id)
            ran = f" after {now - row.started_at:.0f} s" if row.started_at else ""
            error = f"interrupted: {why}{ran}"
            row = self.store.transition(job_id, Action.FAIL, error=error, finished_at=now, phase="failed",
                                        eta_seconds=None)
            self.logs.server_line(job_id, error)
            self.publish_job(row)
            log.warning("job %s: %s", job_id, error)

    # -- queue --------------------------------------------------------------

    def queue_positions(self) -> dict[str, int]:
        """1-based place in its device pool's queue, for every queued job."""
        return self.publisher.positions()

    def publish_queue(self, force: bool = False) -> None:
        self.publisher.queue(self.paused, force)

    def publish_job(self, row: JobRow, event: str = events.UPDATED) -> None:
        self.publisher.job(row, event)

    async def _loop(self) -> None:
        while True:
            await self.wake.wait()
            try:
                self._dispatch()
            except Exception:  # noqa: BLE001 - the loop must outlive one bad pass
                log.exception("dispatch pass failed")
            self.publish_queue()

    def _waiting(self, cluster: Cluster) -> tuple[list[Waiting], dict[str, str]]:
        """The queue as placement sees it, and each placeable job's backend;
        jobs that can never run here are failed on the way."""
        waiting: list[Waiting] = []
        backends: dict[str, str] = {}
        now = time.monotonic()
        queue = self.store.queue_order()
        queued = {job.id for job in queue}
        self._told = {job_id: why for job_id, why in self._told.items() if job_id in queued}
        self._expected = {}
        for job in queue:
            if job.held or job.id in self._deleting or self.supervisor.is_running(job.id):
                continue
            spec = self.catalogue.find(job.params.model_id)
            if spec is None:
                self._fail_queued(job.id, f"model {job.params.model_id} is no longer in the catalogue")
                continue
            largest = cluster.largest_node(spec.device_kind)
            devices = job.params.num_gpus
            if devices > largest and self.inventory.elastic and spec.device_kind == "gpu":
                self._say_waiting(job.id, f"waiting for a Ray node with {plural(devices, 'GPU')}: "
                                          f"the largest now has {largest}")
                continue
            if devices > largest:
                pool = len(self.inventory.devices(spec.device_kind))
                where = f"this server now has {pool}" if largest == pool else f"the largest node has {largest}"
                self._fail_queued(job.id, f"needs {plural(devices, 'device')}; {where}")
                continue
            backends[job.id] = spec.backend
            passed_at = self._passed.get(job.id)
            expected = self.history.estimate_of(job.params, spec)
            self._expected[job.id] = expected
            entry = Waiting(job.id, spec.device_kind, devices, (model_config(job.params, spec), spec.backend),
                            expected.seconds if expected else None, None if passed_at is None else now - passed_at)
            waiting.append(replace(entry, due_in_s=self._owed.due_in(entry, now, cluster,
                                                                      expected.owed if expected else None)))
        return waiting, backends

    def _say_waiting(self, job_id: str, why: str) -> None:
        """Once per job and reason, in its log: why a queued job is not starting."""
        if self._told.get(job_id) != why:
            self._told[job_id] = why
            self.logs.server_line(job_id, why)

    def _cluster(self) -> Cluster:
        # Local devices are all on one node; Ray's GPUs carry their node.
        return Cluster({kind: self.inventory.devices(kind) for kind in ("gpu", "cpu")}, dict(self.inventory.nodes))

    def _dispatch(self) -> None:
        if self.paused:
            return
        cluster = self._cluster()
        waiting, backends = self._waiting(cluster)
        if not waiting:
            return
        idle = [IdleWorker(w.worker_id, w.device_kind, w.devices,
                           (w.loaded, w.backend) if w.loaded is not None else None)
                for w in self.supervisor.idle_workers()]
        plan = place(waiting, cluster, self.supervisor.busy_devices(), idle,
                     backfill=self.backfill, slack_s=self.affinity_wait_s)
        by_id = {job.job_id: job for job in waiting}
        self._passed = {job_id: at for job_id, at in self._passed.items() if job_id in by_id}
        self._owed.keep_only(by_id)
        for job_id in passed(plan, waiting):
            self._passed.setdefault(job_id, time.monotonic())
        for start in plan.starts:
            self._launch(start, by_id[start.job_id], backends[start.job_id])

    def _fail_queued(self, job_id: str, error: str) -> None:
        row = self.store.transition(job_id, Action.FAIL, error=error, finished_at=time.time(), phase="failed")
        self.logs.server_line(row.id, error)
        self.publish_job(row)

    def _launch(self, start: Start, job: Waiting, backend: str) -> None:
        row = self.store.get(start.job_id)
        if row is None:
            return
        try:
            expected = self._expected.get(row.id)
            row = self.store.transition(
                row.id, Action.DISPATCH, started_at=time.time(), finished_at=None,
                estimate_seconds=round(expected.seconds, 3) if expected else None,
                estimate_source=expected.source if expected else None,
                devices=",".join(start.devices), attempts=row.attempts + 1, load_seconds=None, warnings="[]",
                error=None, **PROGRESS_START,
            )
        except (IllegalTransition, JobNotFound):
            return
        if start.backfilled:
            self.logs.server_line(row.id, "started ahead of a waiting job that needs more devices: it is "
                                          "expected to end before that job can start, or uses other devices")
        config = model_config(params_of(row), self.catalogue.find(row.model_id))
        run = Run(row.id, f"{row.id}#{row.attempts}", job.kind, start.devices, config, backend,
                  estimate_s=job.estimate_s)
        self.supervisor.launch(row, run, start.worker_id, start.retire)
