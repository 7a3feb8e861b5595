"""Parameter sweeps: one create body (the base) and axes of values, made into
the cartesian product's jobs, queued together in product order (the first
axis outermost). Every job is an ordinary job naming its sweep (`sweep_id`),
so the jobs list, the events and the scheduler need nothing of their own.

Reached through JobService.sweeps (wired in runtime.py); it asks the jobs
layer for what it needs through `SweepJobs` (JobService is one), so the two
do not import each other."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from ..database.tables import JobRow
from ..spec.fields import FIELDS
from ..urls import redacted
from .catalogue import ModelSpec
from .serialize import RECORD_COLUMNS, record_json
from .states import Action, IllegalTransition, JobStatus, user_actions
from .store import JobFilter, JobNotFound
from .sweep_plan import BodyCheck, cut, plan
from .sweep_store import Cell, Sweep, SweepNotFound, SweepStore

DELETED = "deleted"  # a cell's status once its job is deleted on its own
SUMMARY_BASE = ("model_id", "prompt")  # what a sweep's summary keeps of its base
SUMMARY_CHARS = 120  # of a text in a summary: a longer prompt is cut to it
_SECRETS = frozenset(f.name for f in FIELDS if f.secret)  # shown redacted, as a job's JSON shows them
_ID, _STATUS = RECORD_COLUMNS.index("id"), RECORD_COLUMNS.index("status")


class SweepJobs(Protocol):
    """What a sweep asks of the jobs layer (JobService)."""

    def checked(self, asked: Mapping[str, Any],
                arriving: frozenset[str] = frozenset()) -> tuple[ModelSpec, dict[str, Any]]: ...

    def check_queue_room(self, count: int = 1) -> None: ...

    def create(self, spec: ModelSpec, params: dict[str, Any], start: bool) -> JobRow: ...

    def get(self, job_id: str) -> JobRow | None: ...

    def start_many(self, job_ids: Sequence[str]) -> list[JobRow]: ...

    async def stop(self, job_id: str) -> JobRow: ...

    async def delete(self, job_id: str) -> None: ...

    def list_records(self, columns: Sequence[str], limit: int, after: tuple[float, str] | None = None,
                     where: JobFilter = ..., ascending: bool = False) -> list[tuple[Any, ...]]: ...

    def queue_positions(self) -> dict[str, int]: ...


class SweepService:
    def __init__(self, store: SweepStore, jobs: SweepJobs) -> None:
        self.store = store
        self.jobs = jobs
        # Sweeps being deleted: a start meanwhile would queue (and run) the jobs the delete has stopped.
        self._deleting: set[str] = set()

    async def create(self, base: Mapping[str, Any], axes: Mapping[str, Any], start: bool,
                     body_check: BodyCheck) -> dict[str, Any]:
        """Check every job (sweep_plan.plan: InvalidSweep, nothing made), check the queue has room for
        all of them (QueueFull), then make them in product order: queued, their ranks follow it."""
        made = plan(base, axes, body_check, self.jobs.checked)
        if start:
            self.jobs.check_queue_room(len(made.jobs))
        sweep = Sweep(str(uuid.uuid4()), time.time(), made.base, made.axes)
        self.store.create(sweep)
        created: list[str] = []
        try:
            for position, job in enumerate(made.jobs):
                row = self.jobs.create(job.spec, job.params | {"sweep_id": sweep.id}, False)
                created.append(row.id)
                self.store.add_cell(sweep.id, Cell(position, row.id, job.coords))
            if start:
                self.jobs.start_many(created)
        except Exception:
            # Refused after the checks (a create from another thread filled the queue meanwhile): a sweep is
            # made whole or not at all.
            for job_id in created:
                try:
                    await self.jobs.delete(job_id)
                except JobNotFound:
                    pass
            self.store.delete(sweep.id)
            raise
        return self.view(sweep.id)

    def view(self, sweep_id: str) -> dict[str, Any]:
        """The sweep, each cell with its job's JSON now (`status: "deleted"`, `job: null` once its job is
        gone); SweepNotFound."""
        sweep = self.store.get(sweep_id)
        cells = self.store.cells(sweep_id)
        records = self.jobs.list_records(RECORD_COLUMNS, max(len(cells), 1), where=JobFilter(sweep_id=sweep_id))
        positions = (self.jobs.queue_positions()
                     if any(record[_STATUS] == JobStatus.QUEUED.value for record in records) else {})
        jobs = {record[_ID]: record_json(record, positions.get(record[_ID])) for record in records}
        return {**_head(sweep), "jobs": [
            {"id": cell.job_id, "coords": {name: _shown(name, value) for name, value in cell.coords.items()},
             "status": jobs[cell.job_id]["status"] if cell.job_id in jobs else DELETED,
             "job": jobs.get(cell.job_id)} for cell in cells]}

    def summaries(self, limit: int, before: str | None = None) -> tuple[list[dict[str, Any]], bool]:
        """A page of sweeps, newest first (those after the sweep `before`: SweepNotFound if there is none),
        each light (_summary) with its job count and how many are in each status; and whether more follow."""
        after = None
        if before is not None:
            cursor = self.store.get(before)
            after = (cursor.created_at, cursor.id)
        sweeps = self.store.newest_first(limit + 1, after, SUMMARY_BASE)
        page = sweeps[:limit]
        ids = [sweep.id for sweep in page]
        totals = self.store.totals(ids)
        counts = self.store.status_counts(ids)
        out = []
        for sweep in page:
            total = totals.get(sweep.id, 0)
            by_status = dict(counts.get(sweep.id, {}))
            if (gone := total - sum(by_status.values())) > 0:
                by_status[DELETED] = gone
            out.append({**_summary(sweep), "total": total, "counts": by_status})
        return out, len(sweeps) > limit

    def count(self) -> int:
        return self.store.count()

    def start(self, sweep_id: str) -> dict[str, Any]:
        """Queue every job of it that can start (pending, stopped or failed: a sweep made with start false,
        or stopped halfway), in product order; the queue must have room for all of them (QueueFull)."""
        self.store.get(sweep_id)
        if sweep_id in self._deleting:
            raise SweepNotFound(sweep_id)  # it is on its way out
        startable = {status.value for status in JobStatus if Action.START.value in user_actions(status)}
        waiting = [cell.job_id for cell in self.store.cells(sweep_id)
                   if (row := self.jobs.get(cell.job_id)) is not None and row.status in startable]
        if waiting:
            self.jobs.start_many(waiting)
        return self.view(sweep_id)

    async def stop(self, sweep_id: str) -> dict[str, Any]:
        """Take its queued jobs out, then stop its running ones; ended and pending jobs stay as they are."""
        self.store.get(sweep_id)
        await self._stop_jobs([cell.job_id for cell in self.store.cells(sweep_id)])
        return self.view(sweep_id)

    async def delete(self, sweep_id: str) -> int:
        """Stop its jobs, delete them (videos, posters and logs with them), then the sweep: how many
        jobs were deleted (one deleted on its own before is not counted)."""
        self.store.get(sweep_id)
        if sweep_id in self._deleting:
            raise SweepNotFound(sweep_id)
        self._deleting.add(sweep_id)
        try:
            job_ids = [cell.job_id for cell in self.store.cells(sweep_id)]
            await self._stop_jobs(job_ids)
            deleted = 0
            for job_id in job_ids:
                try:
                    await self.jobs.delete(job_id)
                    deleted += 1
                except JobNotFound:
                    pass  # deleted on its own, before or meanwhile
            self.store.delete(sweep_id)
        finally:
            self._deleting.discard(sweep_id)
        return deleted

    async def _stop_jobs(self, job_ids: Sequence[str]) -> None:
        # The queued first, all of them before any running one stops: a device a stopped job frees
        # must not start the next job of the same sweep.
        for wanted in (JobStatus.QUEUED, JobStatus.RUNNING):
            matching = [job_id for job_id in job_ids
                        if (row := self.jobs.get(job_id)) is not None and row.status == wanted.value]
            await asyncio.gather(*(self._stop_one(job_id) for job_id in matching))

    async def _stop_one(self, job_id: str) -> None:
        try:
            await self.jobs.stop(job_id)
        except (IllegalTransition, JobNotFound):
            pass  # it ended, or was deleted, meanwhile


def _shown(name: str, value: Any) -> Any:
    return redacted(value) if name in _SECRETS and isinstance(value, str) else value


def _light(value: Any) -> Any:
    """A value as a summary shows it: a text cut to SUMMARY_CHARS; any other value longer than that as JSON
    (a list of LoRAs) as its JSON text, cut."""
    if isinstance(value, str):
        return cut(value, SUMMARY_CHARS)
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    text = json.dumps(value, ensure_ascii=False)
    return value if len(text) <= SUMMARY_CHARS else cut(text, SUMMARY_CHARS)


def _summary(sweep: Sweep) -> dict[str, Any]:
    """What the list of sweeps shows of one: the model and prompt of its base, its axes' values (each
    _light). GET /api/sweeps/{id} has the whole of it."""
    base = {name: _light(_shown(name, sweep.base[name])) for name in SUMMARY_BASE if name in sweep.base}
    return {"id": sweep.id, "created_at": sweep.created_at, "base": base,
            "axes": {name: [_light(_shown(name, value)) for value in values] for name, values in sweep.axes}}


def _head(sweep: Sweep) -> dict[str, Any]:
    return {"id": sweep.id, "created_at": sweep.created_at,
            "base": {name: _shown(name, value) for name, value in sweep.base.items()},
            "axes": {name: [_shown(name, value) for value in values] for name, values in sweep.axes}}
