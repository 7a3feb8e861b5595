"""The job lifecycle as an explicit state machine.

Every status change in the program goes through `check_transition`, so the rules
live here and nowhere else. The store applies an allowed move with a
compare-and-set on the previous status, so two racing requests cannot both win.

    pending --start--> queued --dispatch--> running --> completed (final)
                         |      ^              |-----> failed  --start--> queued
                         |      '----retry-----|-----> stopped --start--> queued
                         '--stop--> stopped

`retry` puts a run that ran out of memory back in the queue, once, when the job
asked for it (retry_on_oom).
`completed` is final. `failed` and `stopped` may be started again, as the seed
API allows: that is a fresh run of the same parameters.
"""

from __future__ import annotations

import enum


class JobStatus(str, enum.Enum):
    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    STOPPED = "stopped"


class Action(str, enum.Enum):
    START = "start"  # user: queue the job
    DISPATCH = "dispatch"  # scheduler: devices granted, a worker runs it
    COMPLETE = "complete"  # worker: output written
    FAIL = "fail"  # worker or recovery: it went wrong
    STOP = "stop"  # user: take it out of the queue, or it stopped running
    RETRY = "retry"  # scheduler: out of memory, queued again with more offloading


_ALLOWED: dict[Action, dict[JobStatus, JobStatus]] = {
    Action.START: {
        JobStatus.PENDING: JobStatus.QUEUED,
        JobStatus.FAILED: JobStatus.QUEUED,
        JobStatus.STOPPED: JobStatus.QUEUED,
    },
    Action.DISPATCH: {JobStatus.QUEUED: JobStatus.RUNNING},
    Action.COMPLETE: {JobStatus.RUNNING: JobStatus.COMPLETED},
    Action.FAIL: {JobStatus.RUNNING: JobStatus.FAILED, JobStatus.QUEUED: JobStatus.FAILED},
    Action.STOP: {JobStatus.QUEUED: JobStatus.STOPPED, JobStatus.RUNNING: JobStatus.STOPPED},
    Action.RETRY: {JobStatus.RUNNING: JobStatus.QUEUED},
}

ACTIVE = frozenset({JobStatus.QUEUED, JobStatus.RUNNING})
FINISHED = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.STOPPED})

_WHY_NOT: dict[Action, str] = {
    Action.START: "only pending, failed or stopped jobs can be started",
    Action.DISPATCH: "only queued jobs can be dispatched",
    Action.COMPLETE: "only running jobs can complete",
    Action.FAIL: "only queued or running jobs can fail",
    Action.STOP: "only queued or running jobs can be stopped",
    Action.RETRY: "only running jobs can be retried",
}


class IllegalTransition(Exception):
    """A move the state machine forbids; the API answers it with 409."""

    def __init__(self, job_id: str, action: Action, current: JobStatus) -> None:
        self.job_id = job_id
        self.action = action
        self.current = current
        hint = ""
        if action is Action.START and current is JobStatus.COMPLETED:
            hint = "; completed jobs are final: duplicate it to run it again"
        elif action is Action.START and current in ACTIVE:
            hint = "; it is already " + current.value
        super().__init__(
            f"cannot {action.value} job {job_id}: it is {current.value} "
            f"({_WHY_NOT[action]}{hint})"
        )


def user_actions(current: JobStatus) -> list[str]:
    """What a user may ask of a job in this status, for clients to offer."""
    return [action.value for action in (Action.START, Action.STOP) if current in _ALLOWED[action]]


def check_transition(job_id: str, action: Action, current: JobStatus) -> JobStatus:
    """The status `action` leads to from `current`, or IllegalTransition."""
    target = _ALLOWED[action].get(current)
    if target is None:
        raise IllegalTransition(job_id, action, current)
    return target
