"""The first-in-first-out start each queued job is owed, which bounds how long
model affinity may keep passing it.

Placement may start a later job early because an idle worker already holds
its model, and every such pass delays the jobs passed. Bounded by a count of
passes, that saves few loads; bounded by time since the first pass, it has no
fairness bound at all (bench/schedule.py shows both). So each job, when first
seen in the queue, is given the time it would start if every job had run
strictly in queue order. A virtual machine keeps that schedule: it replays the
queue through the real placement code with backfill off, on virtual workers
that keep their models as real ones do, fed the same estimates. Placement may
pass a job only until its owed start; from then on it is owed its turn. With
right estimates no job waits longer than its first-in-first-out wait plus one
longest job (tests over random traces). Like the reference system of weighted
fair queuing, it is never run, only computed.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Hashable
from dataclasses import dataclass, replace

from .placement import Cluster, IdleWorker, Waiting, place


@dataclass
class _VirtualWorker:
    worker_id: int
    kind: str
    devices: tuple[str, ...]
    model: Hashable
    free_at: float


class FifoReference:
    """The strict-queue schedule of the jobs admitted so far, in admission
    order. Times are absolute, on whatever clock the caller passes as `now`."""

    def __init__(self) -> None:
        self._workers: list[_VirtualWorker] = []
        self._latest: dict[str, float] = {}  # pool -> the latest start given: no job starts before an earlier one
        self._ids = itertools.count(1)

    def admit(self, job: Waiting, now: float, cluster: Cluster, load_s: float = 0.0) -> float | None:
        """When `job` starts in the strict-queue schedule, after every job
        admitted before it. `job.estimate_s` is its run time on a worker that
        holds its model; `load_s` is added where the virtual worker does not.
        None when the run time is not known, or the job fits no node."""
        if job.estimate_s is None:
            return None
        present = {device for pool in cluster.pools.values() for device in pool}
        self._workers = [w for w in self._workers if set(w.devices) <= present]  # a Ray node may have left
        earliest = max(now, self._latest.get(job.kind, now))
        moments = sorted({earliest} | {w.free_at for w in self._workers if w.free_at > earliest})
        for at in moments:
            busy = {device: w.free_at - at for w in self._workers if w.free_at > at for device in w.devices}
            idle = [IdleWorker(w.worker_id, w.kind, w.devices, w.model) for w in self._workers if w.free_at <= at]
            plan = place([job], cluster, busy, idle, backfill=False)
            if plan.starts:
                break
        else:
            return None
        start = plan.starts[0]
        self._workers = [w for w in self._workers if w.worker_id not in start.retire]
        worker = next((w for w in self._workers if w.worker_id == start.worker_id), None)
        if worker is None:
            worker = _VirtualWorker(next(self._ids), job.kind, start.devices, None, at)
            self._workers.append(worker)
        worker.free_at = at + job.estimate_s + (0.0 if worker.model == job.model else load_s)
        worker.model = job.model
        self._latest[job.kind] = at
        return at


class OwedStarts:
    """Each queued job's owed start: given once, when the job is first seen
    waiting, and forgotten when it stops waiting (a job queued again, after a
    retry or a release, is owed a new one). A job with no estimate then is
    never given one, and is left out of the reference: the jobs after it are
    owed earlier starts, which is the safe side. A job that leaves the queue
    without running keeps its turn in the reference: the jobs admitted after
    it are owed starts up to its run time later than they would be without it."""

    def __init__(self) -> None:
        self.reference = FifoReference()
        self._at: dict[str, float | None] = {}

    def due_in(self, job: Waiting, now: float, cluster: Cluster, estimate: tuple[float, float] | None
               ) -> float | None:
        """Seconds until `job`'s owed start (<= 0: it is past); None: not
        known. `estimate`: its run seconds with the model loaded, and the
        model's load seconds (estimates.owed_estimate)."""
        if job.job_id not in self._at:
            self._at[job.job_id] = None if estimate is None else self.reference.admit(
                replace(job, estimate_s=estimate[0]), now, cluster, estimate[1])
        at = self._at[job.job_id]
        return None if at is None else at - now

    def keep_only(self, waiting: Collection[str]) -> None:
        self._at = {job_id: at for job_id, at in self._at.items() if job_id in waiting}
