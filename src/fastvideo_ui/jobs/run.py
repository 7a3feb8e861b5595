"""A run: one attempt at a job, from dispatch to its end, as the supervisor
holds it. Its own module, so the supervisor that drives runs and run_end,
which records how one ended, both read it without importing each other."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from ..backends.base import ModelConfig
from ..database.tables import JobRow
from ..workers.handle import WorkerHandle
from ..workers.protocol import Outcome
from .serialize import PROGRESS_START


@dataclass
class Run:
    job_id: str
    run_id: str
    kind: str
    devices: tuple[str, ...]
    config: ModelConfig
    backend: str
    estimate_s: float | None = None  # expected run time when it started; None: unknown
    started: float = field(default_factory=time.monotonic)
    worker: WorkerHandle | None = None
    outcome: asyncio.Future[Outcome] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    done: asyncio.Event = field(default_factory=asyncio.Event)
    stop_requested: bool = False
    forced: bool = False
    phase: str = "starting"
    denoise_started: float | None = None
    eta_s: float | None = None
    stepped: bool = False  # its first denoising step has been seen
    abort_error: str | None = None  # the server ended it (e.g. its log cannot be written): it failed
    resolved: dict[str, Any] = field(default_factory=dict)  # its `resolve` fields, resolved (jobs/inputs.py)
    warnings: list[str] = field(default_factory=list)  # what its worker warned of, as the job's `warnings` holds
    shown: dict[str, Any] = field(default_factory=lambda: dict(PROGRESS_START))  # its progress fields, as stored
    row: JobRow | None = None  # its job's row as dispatched (its fields stay so while it runs)
    step_seconds: float | None = None  # its denoising's seconds per step, once its last step is reported
    first_step_elapsed: float | None = None  # its phase's seconds at its first step

    def ends_in_s(self) -> float | None:
        """Seconds until it is expected to end: its ETA once denoising reports
        steps, else its estimate less the time it has run; None: unknown."""
        if self.eta_s is not None:
            return self.eta_s
        if self.estimate_s is None:
            return None
        return max(0.0, self.estimate_s - (time.monotonic() - self.started))


@dataclass(frozen=True)
class Snapshot:
    """A read-only view for health, /api/gpus and the scheduler."""

    allocated: dict[str, str]  # device -> job id
    workers: list[dict[str, Any]]
    running: int
