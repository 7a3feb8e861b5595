"""What a running job reports, recorded: its phase and steps (with the ETA they
give, and the seconds per step estimates scale by), and its warnings. Each is
stored, and sent as an event from what the run holds, never read back."""

from __future__ import annotations

import json
import time
from typing import Any

from ..spec.rules import params_of
from .estimates import STEPS_FIELD
from .logs import LogBook
from .metrics import Metrics
from .publisher import JobPublisher
from .run import Run
from .store import JobStore
from .wakeup import Wakeup


def _pct(step: int, total: int) -> float:
    return round(100.0 * step / total, 1) if total else 0.0


class RunProgress:
    def __init__(self, store: JobStore, logs: LogBook, publisher: JobPublisher, metrics: Metrics,
                 wake: Wakeup) -> None:
        self.store = store
        self.logs = logs
        self.publisher = publisher
        self.metrics = metrics
        self.wake = wake  # a run's first step may let a waiting job start before it ends

    MAX_WARNINGS = 20  # a run that warns on every layer still has a readable job

    def warned(self, run: Run, text: str) -> None:
        """A worker's warning: in the job's log, and in its `warnings` (once each, a few at most)."""
        text = " ".join(text.split())[:500]
        if not text or text in run.warnings or len(run.warnings) >= self.MAX_WARNINGS:
            return
        run.warnings.append(text)
        self.logs.server_line(run.job_id, f"warning: {text}")
        if self.store.update_running(run.job_id, warnings=json.dumps(run.warnings)):
            self.publisher.job(self.store.require(run.job_id))

    def reported(self, run: Run, phase: str | None = None, step: int | None = None,
                  total: int | None = None, elapsed: float | None = None) -> None:
        """`elapsed`: the seconds the worker says its phase has run, else timed here from the phase's report."""
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
            if not run.stepped:
                run.stepped = True
                self.metrics.first_step_seconds.labels(run.config.model_id).observe(time.monotonic() - run.started)
                # Its end is now known from its steps, not guessed: a waiting job may fit before it (a prior
                # estimate, or none, may have said otherwise).
                self.wake.kick()
            if elapsed is None:
                elapsed = time.monotonic() - run.denoise_started
            eta = elapsed / step * (total - step) if step else None
            if step == 1:
                run.first_step_elapsed = elapsed
            elif step == total and run.first_step_elapsed is not None and self._the_jobs_steps(run, total):
                # What estimates scale a run's steps by (jobs/estimates.py): from its first step to its last,
                # so what came before the first (a warm-up, a compile) stays with the run's other time.
                run.step_seconds = (elapsed - run.first_step_elapsed) / (total - 1)
            run.eta_s = eta
            fields.update(step=step, total_steps=total, progress=_pct(step, total),
                          progress_msg=f"{step}/{total} steps",
                          eta_seconds=round(eta, 1) if eta is not None else None)
        if fields:
            self.show(run, fields)

    def show(self, run: Run, fields: dict[str, Any]) -> None:
        """A running job's progress fields, stored and sent as a progress event from
        what the run holds (no read of the row back: several of these a run)."""
        if self.store.update_running(run.job_id, **fields):
            run.shown.update(fields)
            self.publisher.progress_of(run.job_id, run.shown)

    @staticmethod
    def _the_jobs_steps(run: Run, total: int) -> bool:
        """A bar of the job's own step count: not a second stage's (LTX-2's refine draws its own bar)."""
        return run.row is None or total == getattr(params_of(run.row), STEPS_FIELD)
