"""Where queued jobs start, decided by a pure function of the queue, the
devices and the workers: unit-tested without processes, and replayed by
bench/schedule.py.

The policy is backfilling that never delays the head (EASY backfilling): in
each device pool, jobs start in queue order while they fit. The first that
does not fit is the head; it gets a reservation, the devices it will start on
and when (from the running jobs' expected ends). A later job may start ahead
of it only on devices outside that reservation, or inside it when it is
expected to end before the reservation begins. A job whose duration is not
known is never backfilled into a reservation, nor is any job into one whose
start is not known. `backfill=False` gives strict first in, first out.

Model affinity: within a window of the queue, a job that an idle worker can
run without loading a model starts first, even ahead of older jobs, but never
past a job that is owed its turn: one whose first-in-first-out start
(jobs/fairness.py) was `slack_s` ago or more. A job with no known start is
owed once a later job has passed it `slack_s` ago or more, so at 0, the
default, it is passed at most once. At 0, random traces keep every job within
its first-in-first-out wait plus one longest job (tests); a larger slack saves
more loads and gives up that bound (bench/schedule.py shows both).

A job's devices always lie on one node. Among the devices it may take, a job
prefers an idle worker that already holds its model (no load), then one of its
size that holds no model yet (started before any job: no process to start),
then devices no idle worker holds, then those whose model no waiting job
wants, then the pool's order.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field

LOCAL_NODE = "local"
# How far past a blocked head a job may be taken early because an idle worker
# already holds its model.
AFFINITY_WINDOW = 16


@dataclass(frozen=True)
class Waiting:
    """A queued job, in the order the queue gives (priority first, then age)."""

    job_id: str
    kind: str  # the device pool it runs in
    count: int  # how many of its devices
    model: Hashable  # what an idle worker must hold to run it without a load
    estimate_s: float | None = None  # expected run time; None: unknown
    passed_s: float | None = None  # since a later job first started ahead of it; None: never
    due_in_s: float | None = None  # until its first-in-first-out start (<= 0: past it); None: not known


@dataclass(frozen=True)
class IdleWorker:
    worker_id: int
    kind: str
    devices: tuple[str, ...]
    model: Hashable | None


@dataclass(frozen=True)
class Start:
    job_id: str
    devices: tuple[str, ...]
    worker_id: int | None  # the idle worker to run it on; None: a new worker
    retire: tuple[int, ...] = ()  # idle workers to shut down first: they hold some of its devices
    backfilled: bool = False  # it started ahead of a waiting job that had a reservation


@dataclass(frozen=True)
class Reservation:
    job_id: str
    devices: tuple[str, ...]
    in_s: float | None  # when those devices are expected to be free; None: not known


@dataclass
class Plan:
    starts: list[Start] = field(default_factory=list)
    reservations: dict[str, Reservation] = field(default_factory=dict)  # by pool


@dataclass(frozen=True)
class Cluster:
    """The devices of each pool, in order, and the node each one is on."""

    pools: Mapping[str, tuple[str, ...]]
    nodes: Mapping[str, str] = field(default_factory=dict)  # device -> node; absent: LOCAL_NODE

    def node(self, device: str) -> str:
        return self.nodes.get(device, LOCAL_NODE)

    def by_node(self, devices: Sequence[str]) -> dict[str, list[str]]:
        grouped: dict[str, list[str]] = {}
        for device in devices:
            grouped.setdefault(self.node(device), []).append(device)
        return grouped

    def largest_node(self, kind: str) -> int:
        return max((len(group) for group in self.by_node(self.pools.get(kind, ())).values()), default=0)


def place(
    waiting: Sequence[Waiting],
    cluster: Cluster,
    busy: Mapping[str, float | None],
    idle: Sequence[IdleWorker],
    backfill: bool = True,
    slack_s: float = 0.0,
) -> Plan:
    """Which waiting jobs start now, on what. `busy` maps each device a running
    job holds to the seconds until it is expected to be free (None: unknown)."""
    plan = Plan()
    # Free is not being in `busy`: a run past its expected end (0 s left) still holds its devices.
    free_now = {device for pool in cluster.pools.values() for device in pool if device not in busy}
    free_in: dict[str, float | None] = {}  # every device of every pool: seconds until free, for reservations
    for pool in cluster.pools.values():
        for device in pool:
            free_in[device] = busy[device] if device in busy else 0.0
    idle_left = [worker for worker in idle if all(d in free_now for d in worker.devices)]
    wanted = {job.model for job in waiting[:AFFINITY_WINDOW]}

    def try_start(job: Waiting, warm_only: bool = False) -> bool:
        nonlocal idle_left
        reservation = plan.reservations.get(job.kind)
        free = [device for device in cluster.pools.get(job.kind, ()) if device in free_now]
        if reservation is not None and not _ends_before(job, reservation):
            free = [device for device in free if device not in reservation.devices]
        avoid = reservation.devices if reservation else ()
        start = _fit(job, cluster, free, idle_left, avoid, wanted, warm_only)
        if start is None:
            return False
        if reservation is not None:
            start = Start(start.job_id, start.devices, start.worker_id, start.retire, backfilled=True)
        plan.starts.append(start)
        for device in start.devices:
            free_now.discard(device)
            free_in[device] = job.estimate_s  # busy from now on, for the reservations after it
        idle_left = [w for w in idle_left if w.worker_id != start.worker_id and w.worker_id not in start.retire]
        return True

    for kind, jobs in _by_pool(waiting).items():
        if backfill:
            # Model affinity: within the window, a job an idle worker can run
            # without a load goes first, but never past a job owed its turn.
            early = set()
            for job in jobs[:AFFINITY_WINDOW]:
                if try_start(job, warm_only=True):
                    early.add(job.job_id)
                elif _owed(job, slack_s):
                    break
            jobs = [job for job in jobs if job.job_id not in early]
        for index, job in enumerate(jobs):
            if try_start(job):
                continue
            plan.reservations[kind] = _reserve(job, cluster, cluster.pools.get(kind, ()), free_in)
            if backfill:
                for later in jobs[index + 1:]:
                    try_start(later)
            break
    return plan


def passed(plan: Plan, waiting: Sequence[Waiting]) -> list[str]:
    """The jobs this plan leaves waiting while a later job of their pool starts."""
    started = {start.job_id for start in plan.starts}
    out: list[str] = []
    for jobs in _by_pool(waiting).values():
        last = max((index for index, job in enumerate(jobs) if job.job_id in started), default=-1)
        out += [job.job_id for job in jobs[:last] if job.job_id not in started]
    return out


def _by_pool(waiting: Sequence[Waiting]) -> dict[str, list[Waiting]]:
    pools: dict[str, list[Waiting]] = {}
    for job in waiting:
        pools.setdefault(job.kind, []).append(job)
    return pools


def _owed(job: Waiting, slack_s: float) -> bool:
    if job.due_in_s is not None:
        return job.due_in_s + slack_s <= 0
    return job.passed_s is not None and job.passed_s >= slack_s


def _ends_before(job: Waiting, reservation: Reservation) -> bool:
    return job.estimate_s is not None and reservation.in_s is not None and job.estimate_s <= reservation.in_s


def _fit(job: Waiting, cluster: Cluster, allowed: list[str], idle: Sequence[IdleWorker], avoid: Sequence[str],
         wanted: set[Hashable], warm_only: bool = False) -> Start | None:
    """Devices for `job` among `allowed`, on one node, or None. `wanted`: the
    models waiting jobs need, whose idle workers are evicted last."""
    if job.count <= 0 or len(allowed) < job.count:
        return None
    allowed_set = set(allowed)
    mine = [w for w in idle if w.kind == job.kind]
    warm = [w for w in mine if w.model == job.model and len(w.devices) == job.count
            and set(w.devices) <= allowed_set and len(cluster.by_node(w.devices)) == 1]
    if warm:
        # Off the reservation first, so the head's devices stay as they are.
        chosen = min(warm, key=lambda w: (sum(d in avoid for d in w.devices), w.worker_id))
        return Start(job.job_id, chosen.devices, chosen.worker_id)
    if warm_only:
        return None
    held = {device for worker in mine for device in worker.devices}
    held_wanted = {device for worker in mine if worker.model in wanted for device in worker.devices}
    # A worker that holds no model yet (started before any job) of the job's size: taking it saves a start.
    fresh = {device for worker in mine if worker.model is None and len(worker.devices) == job.count
             for device in worker.devices}
    order = {device: index for index, device in enumerate(cluster.pools.get(job.kind, ()))}
    ranked = sorted(allowed, key=lambda device: (device in avoid, device not in fresh, device in held_wanted,
                                                 device in held, order[device]))
    rank = {device: index for index, device in enumerate(ranked)}
    best: list[str] | None = None
    for group in cluster.by_node(ranked).values():
        if len(group) >= job.count:
            candidate = group[:job.count]  # group keeps `ranked` order
            if best is None or [rank[d] for d in candidate] < [rank[d] for d in best]:
                best = candidate
    if best is None:
        return None
    devices = tuple(sorted(best, key=order.__getitem__))
    retire = tuple(w.worker_id for w in mine if set(w.devices) & set(devices))
    for worker in mine:  # an idle worker on exactly these devices switches models in its own process
        if set(worker.devices) == set(devices):
            # Any other idle worker there goes: two models on one GPU is the next job's out-of-memory.
            return Start(job.job_id, devices, worker.worker_id, tuple(w for w in retire if w != worker.worker_id))
    return Start(job.job_id, devices, None, retire)


def _reserve(job: Waiting, cluster: Cluster, pool: Sequence[str], free_in: Mapping[str, float | None]
             ) -> Reservation:
    """The devices `job` will start on soonest, on one node, and when."""
    def when(device: str) -> float:
        value = free_in[device]
        return float("inf") if value is None else value

    best: tuple[float, tuple[str, ...]] | None = None
    for group in cluster.by_node(pool).values():
        if len(group) < job.count:
            continue
        soonest = sorted(group, key=when)[:job.count]
        at = max(when(device) for device in soonest)
        if best is None or at < best[0]:
            best = (at, tuple(device for device in pool if device in soonest))
    if best is None:  # it can never fit; the scheduler fails such jobs before placing them
        return Reservation(job.job_id, tuple(pool), None)
    at, devices = best
    return Reservation(job.job_id, devices, None if at == float("inf") else at)


def take_given(holders: Mapping[str, str], job_id: str, promised: Sequence[str], given: Sequence[str]
               ) -> dict[str, tuple[str, ...]]:
    """The devices of each job that changes when `job_id`, promised `promised`,
    is given `given` by Ray on the same node (Ray picks which of a node's GPUs
    an actor gets; placement chose how many, and where). A job starting on that
    node that was promised one of them takes one of `job_id`'s promised ones
    instead: Ray gave none of them to a running actor. `holders`: device -> job."""
    if set(given) == set(promised) or len(given) != len(promised):
        return {}
    spare = [device for device in promised if device not in given]
    changed: dict[str, tuple[str, ...]] = {}
    for device in given:
        other = holders.get(device)
        if other is not None and other != job_id:
            current = changed.get(other) or tuple(d for d, holder in holders.items() if holder == other)
            swap = spare.pop()
            changed[other] = tuple(swap if d == device else d for d in current)
    changed[job_id] = tuple(sorted(given))
    return changed
