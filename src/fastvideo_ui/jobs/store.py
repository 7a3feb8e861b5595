"""Durable job storage. Status moves go through `transition`, a compare-and-set."""

from __future__ import annotations

import builtins
import dataclasses
from collections.abc import Sequence
from operator import itemgetter
from types import SimpleNamespace
from typing import Any, NamedTuple, cast

from sqlalchemy import CursorResult, Engine, Float, Select, bindparam, delete, func, or_, select, tuple_, update
from sqlalchemy.orm import Session, sessionmaker

from ..database.layout import LAYOUT, JobLayout
from ..database.tables import JobRow, ServerState
from ..spec.fields import FieldSpec, Group
from .estimates import DEVICES_FIELD, WORK_FIELDS, History
from .states import Action, IllegalTransition, JobStatus, check_transition


# What a new run starts without: the last run's times, outcome, devices and progress.
RESET_RUN_FIELDS: dict[str, Any] = {
    "started_at": None, "finished_at": None, "error": None, "output_path": None,
    "poster_path": None, "devices": None, "progress": 0.0, "progress_msg": "",
    "step": None, "total_steps": None, "eta_seconds": None,
}


def queue_fields(fields: Sequence[FieldSpec]) -> tuple[str, ...]:
    """What the scheduler reads of a queued job beyond its place: the LOAD fields (its model key),
    what its duration scales with (cost) and its uploads (an image-to-video load)."""
    return tuple(f.name for f in fields if f.group is Group.LOAD or f.cost or f.upload)


class QueuedJob(NamedTuple):
    id: str
    priority: int
    queue_rank: float
    held: bool
    params: SimpleNamespace  # the queue_fields, by name (job.params.model_id)


class JobNotFound(Exception):
    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id} not found")
        self.job_id = job_id


@dataclasses.dataclass(frozen=True)
class JobFilter:
    """Which jobs a listing or count reads: each given condition must hold."""

    statuses: tuple[JobStatus, ...] = ()
    prompt_contains: str | None = None  # a literal substring, any case
    sweep_id: str | None = None  # only the jobs of this sweep
    starred: bool | None = None  # only starred jobs (True) or unstarred (False)

    @property
    def unfiltered(self) -> bool:
        return not self.statuses and not self.prompt_contains and self.sweep_id is None and self.starred is None


EVERY_JOB = JobFilter()


def _filtered(query: Select[Any], where: JobFilter) -> Select[Any]:
    if where.statuses:
        query = query.where(JobRow.status.in_([s.value for s in where.statuses]))
    if where.prompt_contains:
        # A literal substring, case-insensitive: % and _ typed by a user are not wildcards.
        escaped = where.prompt_contains.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(JobRow.prompt.ilike(f"%{escaped}%", escape="\\"))
    if where.sweep_id is not None:
        query = query.where(JobRow.sweep_id == where.sweep_id)
    if where.starred is not None:
        query = query.where(JobRow.starred == where.starred)
    return query


class JobStore:
    def __init__(self, engine: Engine, layout: JobLayout = LAYOUT) -> None:
        self._engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._prepared: dict[tuple[Any, ...], Any] = {}  # _prepared_update's statements, by their shape
        self._status_query = select(JobRow.status).where(JobRow.id == bindparam("_job_id"))
        self._float_columns = tuple(c.name for c in JobRow.__table__.columns if isinstance(c.type, Float))
        self._returning = bool(engine.dialect.update_returning)  # SQLite 3.35 and later
        self.layout = layout  # where each per-job field is stored
        self._uploads = tuple(layout.expression(f.name) for f in layout.fields if f.upload)
        self._queue_fields = queue_fields(layout.fields)
        self._record_queries: dict[tuple[str, ...], Select[Any]] = {}
        self._rows_version = 0  # bumped by each create and delete (this store is the only writer)
        self._total_cache: tuple[int, int] | None = None  # (rows version, how many jobs)
        # What a listing chunk counts toward its characters: the text fields, and a job's error.
        self._texts = (*(f.name for f in layout.fields if f.text), "error")
        # Every move into or out of `queued` goes through this store (the
        # server is the only writer), so a counter tells when the cached queue
        # order is stale: list requests, events and dispatch all ask for it.
        self._queue_version = 0
        self._queue_cache: tuple[int, list[QueuedJob]] | None = None

    def _session(self) -> Session:
        return self._sessions()

    def create(self, **fields: Any) -> JobRow:
        row = JobRow(**self.layout.insert_values(fields))
        with self._session() as session, session.begin():
            session.add(row)
        self._rows_version += 1
        return row

    def get(self, job_id: str) -> JobRow | None:
        with self._session() as session:
            return session.get(JobRow, job_id)

    def record(self, job_id: str, columns: tuple[str, ...]) -> tuple[Any, ...] | None:
        """One job's `columns` as a listing reads them (list_records), or None:
        a statement built once per column set and a plain tuple from the
        cursor, half the time of loading the ORM row."""
        query = self._record_queries.get(columns)
        if query is None:
            query = select(*map(self.layout.expression, columns)).where(JobRow.id == bindparam("job_id"))
            self._record_queries[columns] = query
        with self._session() as session:
            found = session.connection().execute(query, {"job_id": job_id}).first()
        return None if found is None else tuple(found)

    def require(self, job_id: str) -> JobRow:
        row = self.get(job_id)
        if row is None:
            raise JobNotFound(job_id)
        return row

    def list_records(
        self,
        columns: Sequence[str],
        limit: int,
        after: tuple[float, str] | None = None,
        where: JobFilter = EVERY_JOB,
        ascending: bool = False,
    ) -> builtins.list[tuple[Any, ...]]:
        """Newest first (oldest first when `ascending`), `columns` only, as plain tuples from the database
        cursor: a listing can read every stored job, and building ORM objects
        (or even SQLAlchemy rows) for each was most of its time. `after` is the
        (created_at, id) of the last job of the previous page."""
        query = _filtered(select(*map(self.layout.expression, columns)), where)
        key = tuple_(JobRow.created_at, JobRow.id)
        if after is not None:  # a row value: SQLite seeks ix_jobs_created to it
            query = query.where(key > tuple_(*after) if ascending else key < tuple_(*after))
        order = (JobRow.created_at, JobRow.id) if ascending else (JobRow.created_at.desc(), JobRow.id.desc())
        query = query.order_by(*order).limit(limit)
        with self._session() as session:
            result = session.connection().execute(query)
            return cast("builtins.list[tuple[Any, ...]]", result.cursor.fetchall())

    def list_chunk(
        self,
        columns: Sequence[str],
        limit: int,
        after: tuple[float, str] | None,
        where: JobFilter,
        max_text_chars: int,
        oldest: tuple[float, str] | None = None,
    ) -> tuple[builtins.list[tuple[Any, ...]], bool]:
        """list_records, newest first, that stops reading once the rows read hold
        `max_text_chars` characters of prompts, negative prompts and errors
        (those of `columns`): what a listing writes at a time, so its size is
        bounded however long the jobs' texts. SQLite steps the query only as
        rows are fetched, so the rest is never read. `oldest` (created_at, id)
        is the last row it may read. Also whether more may follow (the chunk
        stopped at `limit` or at the characters)."""
        query = _filtered(select(*map(self.layout.expression, columns)), where)
        key = tuple_(JobRow.created_at, JobRow.id)
        if after is not None:
            query = query.where(key < tuple_(*after))
        if oldest is not None:
            query = query.where(key >= tuple_(*oldest))
        query = query.order_by(JobRow.created_at.desc(), JobRow.id.desc()).limit(limit)
        # Counted a batch at a time with C-level maps: per row in Python, the
        # count cost the seed's full list of 10,000 jobs a tenth of its time.
        texts = [itemgetter(at) for at, name in enumerate(columns) if name in self._texts]
        rows: builtins.list[tuple[Any, ...]] = []
        chars = 0
        with self._session() as session:
            cursor = session.connection().execute(query).cursor
            try:
                while chars < max_text_chars and (batch := cursor.fetchmany(32)):
                    batch_chars = sum(sum(map(len, filter(None, map(text, batch)))) for text in texts)
                    if chars + batch_chars < max_text_chars:
                        rows += batch
                        chars += batch_chars
                        continue
                    for row in batch:  # the batch reaches the characters: up to the row that does
                        rows.append(row)
                        chars += sum(len(text(row) or "") for text in texts)
                        if chars >= max_text_chars:
                            break
            finally:
                cursor.close()
        return rows, len(rows) >= limit or chars >= max_text_chars

    def count(self, where: JobFilter = EVERY_JOB) -> int:
        unfiltered = where.unfiltered
        version = self._rows_version  # read first: a create or delete during the query marks it stale
        cached = self._total_cache  # read once: another thread may replace it meanwhile
        if unfiltered and cached is not None and cached[0] == version:
            return cached[1]
        query = _filtered(select(func.count()).select_from(JobRow), where)
        with self._session() as session:
            counted = int(session.scalar(query) or 0)
        if unfiltered:  # every listing's X-Total-Count: only a create or a delete changes it
            self._total_cache = (version, counted)
        return counted

    def count_by_status(self) -> dict[str, int]:
        query = select(JobRow.status, func.count()).group_by(JobRow.status)
        with self._session() as session:
            return {status: int(count) for status, count in session.execute(query)}

    def queue_order(self) -> builtins.list[QueuedJob]:
        """The queued jobs in the order they are to run (higher priority first,
        then lower rank), with what placement needs and not every whole row."""
        version = self._queue_version  # read first: a move during the query marks this result stale
        cached = self._queue_cache
        if cached is not None and cached[0] == version:
            return cached[1]
        query = (
            select(JobRow.id, JobRow.priority, JobRow.queue_rank, JobRow.held,
                   *map(self.layout.expression, self._queue_fields))
            .where(JobRow.status == JobStatus.QUEUED.value)
            .order_by(JobRow.priority.desc(), JobRow.queue_rank, JobRow.id)
        )
        with self._session() as session:
            order = [QueuedJob(record[0], record[1], record[2], record[3],
                               SimpleNamespace(**dict(zip(self._queue_fields, record[4:], strict=True))))
                     for record in session.execute(query)]
        self._queue_cache = (version, order)
        return order

    def set_queued(self, job_id: str, **fields: Any) -> JobRow | None:
        """Change a queued job's place or hold (priority, queue_rank, held);
        None when it is not queued (any more)."""
        with self._session() as session, session.begin():
            result = cast("CursorResult[Any]", session.execute(
                update(JobRow).where(JobRow.id == job_id, JobRow.status == JobStatus.QUEUED.value)
                .values(**self.layout.update_values(fields))
            ))
        self._queue_version += 1
        return self.require(job_id) if result.rowcount == 1 else None

    def update_fields(self, job_id: str, **fields: Any) -> JobRow:
        """Fields that do not depend on the status (such as priority)."""
        with self._session() as session, session.begin():
            session.execute(update(JobRow).where(JobRow.id == job_id).values(**self.layout.update_values(fields)))
        return self.require(job_id)

    def get_state(self, key: str) -> str | None:
        with self._session() as session:
            row = session.get(ServerState, key)
            return row.value if row else None

    def set_state(self, key: str, value: str) -> None:
        with self._session() as session, session.begin():
            session.merge(ServerState(key=key, value=value))

    def durations(self, model_id: str, limit: int = 20) -> History:
        """(seconds, load seconds or None, seconds per step or None, *estimates.WORK_FIELDS' values,
        the cost="devices" one) of the model's latest completed runs, newest first (estimates.History)."""
        return self._durations(limit, JobRow.model_id == model_id)

    def recent_durations(self, limit: int = 50) -> list[tuple[Any, ...]]:
        """(model id, *as `durations`) of the latest completed runs of any model, newest first."""
        return self._durations(limit, None, JobRow.model_id)

    def _durations(self, limit: int, where: Any, *first: Any) -> list[tuple[Any, ...]]:
        query = (
            select(*first, JobRow.finished_at - JobRow.started_at, JobRow.load_seconds, JobRow.step_seconds,
                   *map(self.layout.expression, (*WORK_FIELDS, DEVICES_FIELD)))
            .where(JobRow.status == JobStatus.COMPLETED.value, JobRow.started_at.is_not(None),
                   JobRow.finished_at.is_not(None), *(() if where is None else (where,)))
            .order_by(JobRow.finished_at.desc()).limit(limit)
        )
        with self._session() as session:
            return [tuple(record) for record in session.execute(query)]

    def transition(self, job_id: str, action: Action, **fields: Any) -> JobRow:
        """Apply `action` if the state machine allows it from the stored status.

        The UPDATE is conditional on the status read, so a concurrent move
        makes this one fail with IllegalTransition rather than overwrite it.
        The row comes back from the UPDATE itself (RETURNING), and a move
        that sets columns only takes a prepared statement (_prepared_update):
        each run makes two of these, and a create a third.
        """
        with self._session() as session, session.begin():
            stored = session.execute(self._status_query, {"_job_id": job_id}).scalar()
            if stored is None:
                raise JobNotFound(job_id)
            current = JobStatus(stored)
            target = check_transition(job_id, action, current)
            statement, parameters = self._transition_statement(job_id, current, target, fields)
            if self._returning:
                row = session.scalars(statement, parameters,
                                      execution_options={"synchronize_session": False}).one_or_none()
            else:  # SQLite before 3.35 (Debian 11's, RHEL 8's): the UPDATE, then the row read back
                changed = cast("CursorResult[Any]", session.execute(
                    statement, parameters, execution_options={"synchronize_session": False})).rowcount
                row = session.get(JobRow, job_id, populate_existing=True) if changed == 1 else None
            if row is None:
                session.rollback()
                latest = self.require(job_id)
                raise IllegalTransition(job_id, action, JobStatus(latest.status))
        # SQLite's RETURNING hands back a REAL column's whole number as stored before the column's
        # affinity made it a float (3, where SELECT says 3.0): set right in place (no change to flush).
        for name in self._float_columns:
            if type(row.__dict__.get(name)) is int:
                row.__dict__[name] = float(row.__dict__[name])
        if JobStatus.QUEUED in (current, target):
            self._queue_version += 1
        return row

    def _transition_statement(self, job_id: str, current: JobStatus, target: JobStatus,
                              fields: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        """The UPDATE (... RETURNING where SQLite has it) of a move and its parameters."""
        if not self._columns_only(fields):
            statement = (update(JobRow).where(JobRow.id == job_id, JobRow.status == current.value)
                         .values(status=target.value, **self.layout.update_values(fields)))
            return (statement.returning(JobRow) if self._returning else statement), {}
        return self._prepared_update(current, tuple(fields), target), {"_job_id": job_id, **fields}

    def _columns_only(self, fields: dict[str, Any]) -> bool:
        return not any(name in self.layout.in_json_names for name in fields)

    def _prepared_update(self, status: JobStatus, names: tuple[str, ...], target: JobStatus | None = None) -> Any:
        """The UPDATE of a job in `status` setting the columns `names` from parameters of those names (its
        id is `_job_id`), and its status to `target` (then RETURNING the row, where SQLite has it): built
        once per shape, as SQLAlchemy worked out a fresh statement's cache key at a higher cost than the
        write."""
        key = (status, target, names)
        statement = self._prepared.get(key)
        if statement is None:
            values: dict[str, Any] = {name: bindparam(name) for name in names}
            if target is not None:
                values["status"] = target.value
            statement = update(JobRow).where(JobRow.id == bindparam("_job_id"),
                                             JobRow.status == status.value).values(values)
            if target is not None and self._returning:
                statement = statement.returning(JobRow)
            self._prepared[key] = statement
        return statement

    def update_running(self, job_id: str, **fields: Any) -> bool:
        """Progress and other non-status fields, only while the job runs. Columns
        only (progress, several per run) take a prepared UPDATE on a plain
        connection, without the ORM's bulk path."""
        if self._columns_only(fields):
            with self._engine.begin() as connection:
                return cast("CursorResult[Any]", connection.execute(
                    self._prepared_update(JobStatus.RUNNING, tuple(fields)), {"_job_id": job_id, **fields})
                            ).rowcount == 1
        with self._session() as session, session.begin():
            result = cast("CursorResult[Any]", session.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.status == JobStatus.RUNNING.value)
                .values(**self.layout.update_values(fields))
            ))
            return result.rowcount == 1

    def delete(self, job_id: str) -> bool:
        with self._session() as session, session.begin():
            result = cast("CursorResult[Any]", session.execute(delete(JobRow).where(JobRow.id == job_id)))
        self._rows_version += 1
        self._queue_version += 1
        return result.rowcount == 1

    def upload_in_use(self, upload_id: str) -> bool:
        """Whether a job names the upload in any of its upload fields."""
        query = select(JobRow.id).where(or_(*(stored == upload_id for stored in self._uploads))).limit(1)
        with self._session() as session:
            return session.scalar(query) is not None

    def referenced_uploads(self) -> set[str]:
        """Every upload a job names."""
        with self._session() as session:
            return {upload for stored in self._uploads
                    for upload in session.scalars(select(stored).where(stored.is_not(None)).distinct())}

    def running_ids(self) -> builtins.list[str]:
        query = select(JobRow.id).where(JobRow.status == JobStatus.RUNNING.value)
        with self._session() as session:
            return list(session.scalars(query))
