"""How a run's end is recorded: the state move, the job's fields and its log
lines, from how the run went. Pure functions of the run, its outcome and its
job's row (the supervisor, or the scheduler at shutdown, applies what they return).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..backends.registry import backend_spec
from ..spec.rules import MOST_OFFLOAD
from ..oserrors import describe_exit
from ..database.tables import JobRow
from ..workers.protocol import Completed, Crashed, Outcome, Stopped
from .run import Run
from .states import Action
from .store import RESET_RUN_FIELDS

Ending = tuple[Action, dict[str, Any], list[str]]


def _requeued(now: float, front_of_queue: Callable[[], float]) -> dict[str, Any]:
    """A run's fields reset, first in the queue, and queued as of now: a job's
    wait is counted from when it was last queued, not across its earlier run."""
    return {**RESET_RUN_FIELDS, "phase": "queued", "queued_at": now, "queue_rank": front_of_queue()}


def ending(run: Run, outcome: Outcome, row: JobRow, front_of_queue: Callable[[], float]) -> Ending:
    """`front_of_queue`: the rank that puts a retried job first in the queue."""
    now = time.time()
    took = f"{time.monotonic() - run.started:.1f} s"
    if isinstance(outcome, Completed) and Path(outcome.video_path).is_file():
        return Action.COMPLETE, {"output_path": outcome.video_path, "poster_path": outcome.poster_path,
                                 "progress": 100.0, "phase": "done", "eta_seconds": 0.0,
                                 "finished_at": now}, [f"completed in {took}"]
    if run.abort_error is not None and isinstance(outcome, (Stopped, Crashed)):
        return Action.FAIL, {"error": run.abort_error, "phase": "failed", "eta_seconds": None,
                             "finished_at": now}, [f"failed after {took}: {run.abort_error}"]
    if isinstance(outcome, Stopped) or (isinstance(outcome, Crashed) and run.stop_requested):
        if run.forced:
            how = "forced: the worker did not stop in time and its process tree was killed"
        elif isinstance(outcome, Crashed):
            how = "its backend cannot stop between steps, so its worker's process tree was killed"
        else:
            how = "at the next step"
        return Action.STOP, {"phase": "stopped", "eta_seconds": None, "finished_at": now}, \
            [f"stopped after {took} ({how})"]
    if isinstance(outcome, Completed):
        error = f"the worker reported success but {outcome.video_path} does not exist"
    elif isinstance(outcome, Crashed) and outcome.lost:
        error = f"{outcome.lost} while {run.phase}"
    elif isinstance(outcome, Crashed):
        error = f"worker process {describe_exit(outcome.returncode)} while {run.phase}"
    else:
        error = outcome.error
    failed = f"failed after {took}: {error}"
    if isinstance(outcome, Crashed) and outcome.lost and row.attempts < 2:
        # Requeued, not failed: a lost machine says nothing about the job. Once:
        # a job that takes machines down must not take a second one.
        return Action.RETRY, _requeued(now, front_of_queue), \
            [failed, "queued again, once, first in the queue: its machine was lost, not the job"]
    if "out of memory" in error.lower() and backend_spec(run.backend).retries_oom and row.retry_on_oom:
        # More offloading, once: a retry turns on everything FastVideo can offload.
        turned_on = [name for name, value in MOST_OFFLOAD.items() if value and not getattr(row, name)]
        if turned_on:
            return Action.RETRY, {**_requeued(now, front_of_queue), **MOST_OFFLOAD}, \
                [failed, f"out of memory: queued again, once, first in the queue, with more offloading "
                         f"({', '.join(turned_on)} on)"]
        failed_lines = [failed, "out of memory with every offload already on: not retried"]
    else:
        failed_lines = [failed]
    return Action.FAIL, {"error": error, "phase": "failed", "eta_seconds": None, "finished_at": now}, failed_lines


def shutdown_ending(run: Run | None, row: JobRow, front_of_queue: Callable[[], float]) -> Ending:
    """A run the server ends because it shuts down (gracefully: a crash is
    recovered at the next start instead). The shutdown says nothing about the
    job, so it goes back to the front of the queue, its priority kept, to run
    again from the start after a restart, as a run on a lost Ray node does.
    A run the user was stopping ends stopped, and one the server was ending
    fails, as they would have. `run`: None for a running job the supervisor
    does not hold."""
    now = time.time()
    if run is not None:
        took = f" after {time.monotonic() - run.started:.1f} s"
    else:
        took = f" after {now - row.started_at:.0f} s" if row.started_at else ""
    if run is not None and run.abort_error is not None:
        return Action.FAIL, {"error": run.abort_error, "phase": "failed", "eta_seconds": None,
                             "finished_at": now}, [f"failed{took}: {run.abort_error}"]
    if run is not None and run.stop_requested:
        return Action.STOP, {"phase": "stopped", "eta_seconds": None, "finished_at": now}, \
            [f"stopped{took} (the server shut down while the job was stopping)"]
    return Action.RETRY, _requeued(now, front_of_queue), \
        [f"queued again, first in the queue: the server shut down while the job was running{took}; "
         f"it runs again from the start when the server is back"]
