"""What the API can ask of the jobs layer: the writes here, the reads in
queries.py (one object, two rooms). It never sees a process."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from pathlib import Path
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..database.tables import JobRow
from .catalogue import Catalogue, ModelSpec
from . import events
from .logs import LogBook
from ..spec.fields import FIELDS, FieldSpec
from ..spec.rules import params_of, summarize, uploads_of
from .params import InvalidParams, resolve_params
from .publisher import JobPublisher
from .queries import JobQueries
from .scheduler import Scheduler
from .states import Action, IllegalTransition, JobStatus, check_transition
from .store import RESET_RUN_FIELDS, JobNotFound, JobStore, QueuedJob
from .sweeps import SweepService
from .uploads import UploadStore

# (field, the name of the check only the runtime can make on its value)
# Why a value of the field cannot be used on this server, or None.
ServerCheck = Callable[[FieldSpec, Any], "str | None"]
SERVER_CHECKED = tuple((f, f.server_check) for f in FIELDS if f.server_check)
# How long a stop request waits for a cooperative stop before answering.
STOP_ANSWER_WAIT_S = 2.0



class NotInQueue(Exception):
    """Queue control asked of a job that is not queued: a 409."""

    def __init__(self, job_id: str, status: str, action: str, what: str | None = None) -> None:
        super().__init__(f"cannot {what or action} job {job_id}: it is {status} (only queued jobs can be)")
        self.status = status
        self.action = action


class NotQueued(Exception):
    """A queue-control request naming something not in the queue: a 422 on `field`."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class QueueFull(Exception):
    """More queued jobs than --max-queued allows: one job's (`adding` 1) or a sweep's, all at once."""

    def __init__(self, limit: int, waiting: int | None = None, adding: int = 1) -> None:
        if adding == 1:
            message = f"The queue is full: {limit} jobs are already waiting; start this one when some have run"
        else:
            waiting = limit if waiting is None else waiting
            room = max(limit - waiting, 0)
            message = (f"The queue has room for {room} more job{'s' if room != 1 else ''} ({waiting} waiting, "
                       f"the limit is {limit}); this sweep would add {adding}")
        super().__init__(message)
        self.limit = limit
        self.waiting = waiting
        self.adding = adding


class JobService(JobQueries):
    sweeps: SweepService  # the sweeps made of these jobs: set where the service is built (runtime.py)

    def __init__(self, store: JobStore, logs: LogBook, publisher: JobPublisher, scheduler: Scheduler,
                 catalogue: Catalogue, availability: Callable[[ModelSpec], tuple[bool, str]], uploads: UploadStore,
                 webhook_problem: Callable[[str], str | None], output_dir: Path, log_dir: Path,
                 max_queued: int = 1000, checks: Mapping[str, ServerCheck] | None = None) -> None:
        self.store = store
        self.output_dir = output_dir
        self.log_dir = log_dir
        self.catalogue = catalogue
        self.availability = availability
        self.logs = logs
        self.publisher = publisher
        self.scheduler = scheduler
        self.max_queued = max_queued
        # Why a webhook URL may not be posted to (webhooks.targets.TargetPolicy.url_problem), or None:
        # given, so the jobs layer does not import the webhooks layer.
        self.webhook_problem = webhook_problem
        self.uploads = uploads
        # By a field's server_check name; `checks` adds the runtime's own (a LoRA library's names).
        self._server_checks: dict[str, ServerCheck] = {
            "webhook_target": lambda _, url: webhook_problem(url), "upload": self._upload_problem, **(checks or {})}
        unknown = {check for _, check in SERVER_CHECKED} - self._server_checks.keys()
        assert not unknown, f"a spec field names a server check nobody makes: {unknown}"

    def check_queue_room(self, count: int = 1) -> None:
        """Raise QueueFull when `count` more queued jobs would pass the cap (a sweep's, all at once)."""
        waiting = len(self.store.queue_order())
        if waiting + count > self.max_queued:
            raise QueueFull(self.max_queued, waiting, count)

    def create_job(self, asked: Mapping[str, Any], start: bool) -> JobRow:
        """A job from a create request's fields: checked (see checked), then stored."""
        spec, params = self.checked(asked)
        return self.create(spec, params, start)

    def checked(self, asked: Mapping[str, Any],
                arriving: frozenset[str] = frozenset()) -> tuple[ModelSpec, dict[str, Any]]:
        """A create request's model and its fields: the model checked, its
        defaults filled in, every limit checked (InvalidParams); nothing stored.
        `arriving`: upload fields the request brings a file for that is not
        stored yet (a /v1/videos form's input_reference, decoded only once all
        else passed): each counts as given, and the caller fills in its id."""
        spec = self.catalogue.find(str(asked.get("model_id")))
        if spec is None:
            raise InvalidParams([("model_id", f"unknown model {asked.get('model_id')!r}; GET /api/models lists them")])
        available, reason = self.availability(spec)
        if not available:
            raise InvalidParams([("model_id", f"{spec.id} cannot run on this server: {reason}")])
        problems = self._server_problems(spec, asked, arriving)
        try:
            params = resolve_params(spec, asked, *self._capacity(spec), arriving=arriving)
        except InvalidParams as exc:
            raise InvalidParams(problems + exc.errors) from None
        if problems:
            raise InvalidParams(problems)
        return spec, params

    def _capacity(self, spec: ModelSpec) -> tuple[int | None, bool]:
        inventory = self.scheduler.inventory
        return inventory.capacity(spec.device_kind), inventory.elastic and spec.device_kind == "gpu"

    def _server_problems(self, spec: ModelSpec, asked: Mapping[str, Any],
                         arriving: frozenset[str]) -> list[tuple[str, str]]:
        """The checks only the runtime can make (a field's server_check), on the
        values a request gives to fields that apply to its model (not one whose
        file comes with the request: that file replaces it)."""
        return [(f.name, problem) for f, check in SERVER_CHECKED
                if f.name not in arriving and asked.get(f.name) and f.applies.to(spec)
                and (problem := self._server_checks[check](f, asked[f.name]))]

    def _upload_problem(self, f: FieldSpec, upload_id: str) -> str | None:
        if self.uploads.exists(upload_id):
            return None
        what = f.shown.label.lower() if f.shown else "file"
        return f"no upload has this id: upload the {what} first (POST /api/uploads)"

    def remix(self, job_id: str, prompt: str) -> JobRow:
        """A new job with the source job's settings and a new prompt, queued."""
        source = self.store.require(job_id)
        spec = self.catalogue.find(source.model_id)
        if spec is None:
            raise InvalidParams([("model", f"job {job_id}'s model {source.model_id!r} is no longer served here")])
        # Every spec field as the source job stored it (its columns and its params JSON), but the prompt.
        asked = dataclasses.asdict(params_of(source)) | {"prompt": prompt}
        params = resolve_params(spec, asked, *self._capacity(spec))
        return self.create(spec, params | {"remixed_from": source.id}, start=True)

    def create(self, spec: ModelSpec, params: dict[str, Any], start: bool) -> JobRow:
        if start:
            self.check_queue_room()  # before the row exists, so a refused create leaves nothing behind
        job_id = str(uuid.uuid4())
        now = time.time()
        row = self.store.create(
            id=job_id, status=JobStatus.PENDING.value, created_at=now,
            log_file_path=str(self.logs.path(job_id)), phase="", progress=0.0, progress_msg="",
            attempts=0, **params,
        )
        # The job's settings as its card reads them (spec.rules.summarize: the UI's templates).
        device = "CPU slot" if spec.device_kind == "cpu" else "GPU"
        self.logs.server_line(job_id, f"created: model {spec.id}, {summarize(params, device)}")
        self.scheduler.publish_job(row, events.CREATED)
        return self.start(job_id, JobStatus.PENDING) if start else row

    def start(self, job_id: str, status: JobStatus | None = None) -> JobRow:
        """Queue it; `status`: its status, where the caller has just read or written it."""
        status = status or JobStatus(self.store.require(job_id).status)
        if self.scheduler.is_deleting(job_id):
            raise IllegalTransition(job_id, Action.START, status)
        check_transition(job_id, Action.START, status)  # a refused start is a 409, not a 429
        self.check_queue_room()
        now = time.time()
        row = self.store.transition(job_id, Action.START, queued_at=now, queue_rank=now, held=False,
                                    phase="queued", **RESET_RUN_FIELDS)
        position = self.scheduler.queue_positions().get(job_id)
        again = f" (run {row.attempts + 1})" if row.attempts else ""
        self.logs.server_line(job_id, f"queued{again}, position {position}")
        self.scheduler.publish_job(row)
        self.scheduler.kick()
        return row

    def start_many(self, job_ids: Sequence[str]) -> list[JobRow]:
        """Queue several jobs as one (a sweep's), in the order given: the queue's room for all of them
        checked once (QueueFull), and the queue read once after, for their log lines. One start at a
        time read the whole queue twice per job: 64 jobs over a queue of 900 held the loop 0.8 s. A job
        that cannot start now (it started, ended or is being deleted meanwhile) is passed over."""
        self.check_queue_room(len(job_ids))
        now = time.time()
        rows: list[JobRow] = []
        for offset, job_id in enumerate(job_ids):
            if self.scheduler.is_deleting(job_id):
                continue
            try:  # a rank apart each, so the queue keeps their order (the same rank falls back to the ids')
                rows.append(self.store.transition(job_id, Action.START, queued_at=now, queue_rank=now + offset * 1e-6,
                                                  held=False, phase="queued", **RESET_RUN_FIELDS))
            except (IllegalTransition, JobNotFound):
                continue
        positions = self.scheduler.queue_positions()
        for row in rows:
            again = f" (run {row.attempts + 1})" if row.attempts else ""
            self.logs.server_line(row.id, f"queued{again}, position {positions.get(row.id)}")
            self.scheduler.publish_job(row)
        if rows:
            self.scheduler.kick()
        return rows

    # -- queue control ------------------------------------------------------------

    def move(self, job_id: str, to: str | None = None, before: str | None = None) -> JobRow:
        """Put a queued job first ("top") or last ("bottom") in the queue, or
        just ahead of another queued job. Priority sets the order first, so a
        job moved past jobs of another priority takes theirs."""
        queue = self.store.queue_order()
        me = self._queued(queue, job_id, "move")
        others = [job for job in queue if job.id != job_id]
        if before is not None:
            index = next((i for i, job in enumerate(others) if job.id == before), None)
            if index is None:
                raise NotQueued("before", f"job {before} is not queued")
            target = others[index]
            previous = others[index - 1] if index and others[index - 1].priority == target.priority else None
            priority = target.priority
            rank = (previous.queue_rank + target.queue_rank) / 2 if previous else target.queue_rank - 1
            where = f"ahead of job {before}"
        elif to == "top":
            priority = max([me.priority, *(job.priority for job in others[:1])])
            rank = min([job.queue_rank for job in others if job.priority == priority], default=me.queue_rank) - 1
            where = "to the top of the queue"
        else:
            priority = min([me.priority, *(job.priority for job in others[-1:])])
            rank = max([job.queue_rank for job in others if job.priority == priority], default=me.queue_rank) + 1
            where = "to the bottom of the queue"
        note = f", priority {priority}" if priority != me.priority else ""
        return self._requeued(job_id, f"moved {where}{note}", priority=priority, queue_rank=rank)

    def set_priority(self, job_id: str, priority: int) -> JobRow:
        row = self.store.require(job_id)
        if row.status == JobStatus.QUEUED.value:
            return self._requeued(job_id, f"priority {priority}", priority=priority)
        if JobStatus(row.status) in (JobStatus.PENDING, JobStatus.FAILED, JobStatus.STOPPED):
            row = self.store.update_fields(job_id, priority=priority)  # it applies when it is next queued
            self.scheduler.publish_job(row)
            return row
        raise NotInQueue(job_id, row.status, "priority", "change the priority of")

    def set_starred(self, job_id: str, starred: bool) -> JobRow:
        """Star a job (a favourite) or take its star off, whatever its status; asking twice is no change."""
        row = self.store.require(job_id)
        if row.starred == starred:
            return row
        row = self.store.update_fields(job_id, starred=starred)
        self.scheduler.publish_job(row)
        return row

    def hold(self, job_id: str, held: bool) -> JobRow:
        self._queued(self.store.queue_order(), job_id, "hold" if held else "release")
        return self._requeued(job_id, "held: it keeps its place but does not start" if held else "released",
                              held=held)

    def pause_queue(self, paused: bool) -> None:
        self.scheduler.set_paused(paused)

    def _queued(self, queue: list[QueuedJob], job_id: str, what: str) -> QueuedJob:
        for job in queue:
            if job.id == job_id:
                return job
        raise NotInQueue(job_id, self.store.require(job_id).status, what)

    def _requeued(self, job_id: str, line: str, **fields: Any) -> JobRow:
        row = self.store.set_queued(job_id, **fields)
        if row is None:  # it started or left the queue meanwhile
            raise NotInQueue(job_id, self.store.require(job_id).status, "change")
        self.logs.server_line(job_id, line)
        self.scheduler.publish_job(row)
        self.scheduler.publish_queue()
        self.scheduler.kick()
        return row

    async def stop(self, job_id: str) -> JobRow:
        row = self.store.require(job_id)
        status = JobStatus(row.status)
        if status is JobStatus.QUEUED and self.scheduler.run_of(job_id) is None:
            row = self.store.transition(job_id, Action.STOP, finished_at=time.time(), phase="stopped")
            self.logs.server_line(job_id, "stopped: taken out of the queue")
            self.scheduler.publish_job(row)
            self.scheduler.publish_queue()
            return row
        run = self.scheduler.run_of(job_id)
        if run is None:
            check_transition(job_id, Action.STOP, status)  # raises for every ended state
            raise IllegalTransition(job_id, Action.STOP, status)
        await self.scheduler.stop_running(run)
        try:
            await asyncio.wait_for(asyncio.shield(run.done.wait()), STOP_ANSWER_WAIT_S)
        except asyncio.TimeoutError:
            pass  # still stopping; the job's status will say when it has
        return self.store.require(job_id)

    async def delete(self, job_id: str) -> None:
        """Stop the job if it is active, then remove its row, video, poster and log."""
        row = self.store.require(job_id)
        if not self.scheduler.begin_delete(job_id):
            raise JobNotFound(job_id)
        try:
            if JobStatus(row.status) in (JobStatus.QUEUED, JobStatus.RUNNING):
                try:
                    await self.stop(job_id)
                except IllegalTransition:
                    pass  # it ended meanwhile
                run = self.scheduler.run_of(job_id)
                if run is not None:
                    await run.done.wait()  # bounded by the stop's grace period and a kill
            row = self.store.require(job_id)
            self.store.delete(job_id)
            for path in (row.output_path, row.poster_path):
                if path:
                    Path(path).unlink(missing_ok=True)
            self.logs.remove(job_id)
            for upload in uploads_of(params_of(row)).values():  # the last job that used an upload takes it along
                self.uploads.remove_if_unused(upload, self.store.upload_in_use(upload))
        finally:
            self.scheduler.end_delete(job_id)
        self.publisher.deleted(job_id)
        self.scheduler.publish_queue()
