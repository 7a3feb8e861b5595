"""A discrete-event replay of the real placement code (jobs/placement.place),
with no processes: bench/schedule.py prints its figures, and the placement
tests check the starvation bound over random traces with it.

Each simulated job has an arrival time, a GPU count, a model and a run time;
a job whose worker does not hold its model first pays the model's load time.
Placement is asked again at every arrival and every end, as the scheduler is.
"""

from __future__ import annotations

import heapq
import itertools
import random
import statistics
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastvideo_ui.jobs.fairness import OwedStarts
from fastvideo_ui.jobs.placement import Cluster, IdleWorker, Waiting, place
from fastvideo_ui.jobs.placement import passed as passed_by


@dataclass(frozen=True)
class SimJob:
    job_id: str
    arrival: float
    gpus: int
    model: Hashable
    run_s: float  # generation time with the model loaded


@dataclass
class Result:
    makespan: float
    lower_bound: float
    waits: dict[str, float]
    idle_fit_gpu_s: float  # GPU-seconds idle while a queued job would have fit on the idle GPUs
    loads: int
    starts: dict[str, float] = field(default_factory=dict)

    def percentile(self, q: float) -> float:
        values = sorted(self.waits.values())
        return values[min(len(values) - 1, int(q * len(values)))] if values else 0.0

    def summary(self) -> str:
        return (f"makespan {self.makespan:8.1f} s = {self.makespan / self.lower_bound:5.2f}x the bound "
                f"({self.lower_bound:.1f} s); wait p50 {statistics.median(self.waits.values()):7.1f} s, "
                f"p95 {self.percentile(0.95):7.1f} s; idle GPU-s while work fit {self.idle_fit_gpu_s:8.1f}; "
                f"model loads {self.loads}")


@dataclass
class _Worker:
    worker_id: int
    devices: tuple[str, ...]
    model: Hashable | None
    busy: bool = False


def simulate(jobs: Sequence[SimJob], gpus: int, load_s: float | Callable[[Hashable], float] = 0.0,
             backfill: bool = True, estimate: Callable[[SimJob], float | None] | None = None,
             nodes: dict[str, str] | None = None, slack_s: float = 0.0, owed_starts: bool = True) -> Result:
    """Run `jobs` on `gpus` simulated GPUs. `estimate` gives each job's run
    time with its model loaded, as the scheduler would know it (default:
    exact); placement adds the load time where no idle worker holds the model.
    `slack_s` is placement's (default 0, as the server's). With `owed_starts`
    each job gets its first-in-first-out start from jobs/fairness.py when it
    arrives, as the server does; without, only the pass-once rule bounds
    affinity."""
    devices = tuple(f"gpu{i}" for i in range(gpus))
    cluster = Cluster({"gpu": devices}, nodes or {})
    load_of = load_s if callable(load_s) else (lambda _model: float(load_s))
    pending = sorted(jobs, key=lambda job: job.arrival)
    by_id = {job.job_id: job for job in jobs}
    queue: list[SimJob] = []
    ends: list[tuple[float, int, str]] = []  # (time, tie, job id)
    running: dict[str, tuple[float, tuple[str, ...], _Worker]] = {}
    workers: list[_Worker] = []
    worker_ids = itertools.count(1)
    tie = itertools.count()
    starts: dict[str, float] = {}
    loads = 0
    idle_fit = 0.0
    now = 0.0
    arrived = 0
    passed: dict[str, float] = {}  # job -> when a later job first started ahead of it
    owed = OwedStarts()

    def run_time(job: SimJob) -> float | None:
        return job.run_s if estimate is None else estimate(job)

    def expected(job: SimJob) -> float | None:
        run = run_time(job)
        warm = any(not w.busy and w.model == job.model and len(w.devices) == job.gpus for w in workers)
        return None if run is None else run + (0.0 if warm else load_of(job.model))

    def due_in(job: SimJob) -> float | None:
        if not owed_starts:
            return None
        run = run_time(job)
        return owed.due_in(Waiting(job.job_id, "gpu", job.gpus, job.model), now, cluster,
                           None if run is None else (run, load_of(job.model)))

    while arrived < len(pending) or queue or running:
        # Move time to the next event; account idle GPUs a queued job would have fit.
        next_arrival = pending[arrived].arrival if arrived < len(pending) else float("inf")
        next_end = ends[0][0] if ends else float("inf")
        then = min(next_arrival, next_end)
        if then == float("inf"):
            raise RuntimeError(f"stuck: {len(queue)} jobs can never start")
        free_count = gpus - sum(len(devs) for _, devs, _ in running.values())
        if queue and any(job.gpus <= free_count for job in queue):
            idle_fit += free_count * (then - now)
        now = then
        while ends and ends[0][0] <= now:
            _, _, job_id = heapq.heappop(ends)
            _, _, worker = running.pop(job_id)
            worker.busy = False
        while arrived < len(pending) and pending[arrived].arrival <= now:
            queue.append(pending[arrived])
            arrived += 1
        busy = {device: end - now for end, devs, _ in running.values() for device in devs}
        idle = [IdleWorker(w.worker_id, "gpu", w.devices, w.model) for w in workers if not w.busy]
        waiting = [Waiting(job.job_id, "gpu", job.gpus, job.model, expected(job),
                           now - passed[job.job_id] if job.job_id in passed else None, due_in(job))
                   for job in queue]
        plan = place(waiting, cluster, busy, idle, backfill=backfill, slack_s=slack_s)
        for job_id in passed_by(plan, waiting):
            passed.setdefault(job_id, now)
        for start in plan.starts:
            job = by_id[start.job_id]
            workers = [w for w in workers if w.worker_id not in start.retire]
            worker = next((w for w in workers if w.worker_id == start.worker_id), None)
            if worker is None:
                worker = _Worker(next(worker_ids), start.devices, None)
                workers.append(worker)
            took = job.run_s
            if worker.model != job.model:
                took += load_of(job.model)
                loads += 1
                worker.model = job.model
            worker.busy = True
            running[job.job_id] = (now + took, start.devices, worker)
            heapq.heappush(ends, (now + took, next(tie), job.job_id))
            starts[job.job_id] = now
            queue = [queued for queued in queue if queued.job_id != job.job_id]
    first = min(job.arrival for job in jobs)
    lower_bound = max(sum(job.gpus * job.run_s for job in jobs) / gpus,
                      max(job.arrival + job.run_s for job in jobs) - first)
    return Result(now - first, lower_bound, {j.job_id: starts[j.job_id] - j.arrival for j in jobs}, idle_fit,
                  loads, starts)


# -- the two traces of issue 12 -------------------------------------------------

MIX_12 = [(1, 40), (4, 20), (1, 10), (1, 10), (2, 30), (1, 20), (4, 10), (2, 20), (1, 30), (2, 10), (1, 20),
          (4, 15)]  # (gpus, steps)
STEP_S = 0.2


def mix_12() -> list[SimJob]:
    return [SimJob(f"j{i:02d}", 0.0, gpus, "wan-1.3b", steps * STEP_S) for i, (gpus, steps) in enumerate(MIX_12)]


def poisson_trace(count: int = 1000, gpus: int = 8, seed: int = 1, load: float = 0.9) -> list[SimJob]:
    """`count` jobs over 3 models, mixed sizes and GPU counts, arriving as a
    Poisson process that keeps `gpus` GPUs about `load` busy."""
    rng = random.Random(seed)
    models = ["wan-1.3b", "wan-14b", "hunyuan"]
    shapes = [(1, 20.0), (1, 45.0), (2, 40.0), (2, 90.0), (4, 60.0), (4, 150.0), (8, 120.0)]
    weights = [30, 20, 15, 10, 10, 5, 2]
    chosen = [(rng.choices(models, [5, 3, 2])[0], *rng.choices(shapes, weights)[0]) for _ in range(count)]
    mean_gpu_s = statistics.mean(gpus_ * seconds for _, gpus_, seconds in chosen)
    rate = load * gpus / mean_gpu_s  # arrivals per second
    now = 0.0
    jobs = []
    for index, (model, gpus_, seconds) in enumerate(chosen):
        now += rng.expovariate(rate)
        jobs.append(SimJob(f"p{index:04d}", now, int(gpus_), model, seconds * rng.uniform(0.8, 1.2)))
    return jobs


MODEL_LOAD_S = {"wan-1.3b": 20.0, "wan-14b": 60.0, "hunyuan": 45.0}


def random_trace(seed: int) -> tuple[list[SimJob], int, dict[str, float]]:
    """The starvation test's traces: pools of 2 to 8 GPUs, one to three models
    with their load times, mixed GPU counts and arrivals. (jobs, GPUs, loads)."""
    rng = random.Random(seed)
    gpus = rng.choice([2, 4, 8])
    models = ["a", "b", "c"][:rng.randint(1, 3)]
    loads = {model: rng.uniform(0, 30) for model in models}
    jobs, now = [], 0.0
    for index in range(rng.randint(10, 50)):
        now += rng.expovariate(1 / rng.choice([1, 10, 40]))
        count = rng.choice([c for c in (1, 1, 1, 2, 2, 4, 8) if c <= gpus])
        jobs.append(SimJob(f"j{index}", now, count, rng.choice(models), rng.uniform(5, 120)))
    return jobs, gpus, loads


def starved(seed: int, **options: Any) -> list[SimJob]:
    """The jobs of `random_trace(seed)` that wait longer under `simulate`'s
    `options` than their first-in-first-out wait plus the longest job: the
    starvation bound, broken."""
    jobs, gpus, loads = random_trace(seed)
    fifo = simulate(jobs, gpus, load_s=loads.__getitem__, backfill=False)
    new = simulate(jobs, gpus, load_s=loads.__getitem__, **options)
    longest = max(job.run_s + loads[job.model] for job in jobs)
    return [job for job in jobs if new.waits[job.job_id] > fifo.waits[job.job_id] + longest + 1e-6]
