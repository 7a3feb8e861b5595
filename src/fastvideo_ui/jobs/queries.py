"""The reads the API asks of the jobs layer: a job, a page of them, its files
and log, the queue and the health views. JobService (the writes) extends it,
so routes reach one object and never the store, scheduler or log book."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from ..database.tables import JobRow
from .logs import LogBook
from .scheduler import Scheduler
from .serialize import RECORD_COLUMNS, job_json, record_json
from .states import JobStatus
from .store import EVERY_JOB, JobFilter, JobNotFound, JobStore

_STATUS = RECORD_COLUMNS.index("status")


def inside(path_text: str | None, directory: Path) -> Path | None:
    """The file, if it exists and really lies inside `directory`."""
    if not path_text:
        return None
    path = Path(path_text).resolve()
    if not path.is_file() or not path.is_relative_to(directory.resolve()):
        return None
    return path


class JobQueries:
    store: JobStore
    logs: LogBook
    scheduler: Scheduler
    output_dir: Path
    log_dir: Path

    def get(self, job_id: str) -> JobRow | None:
        return self.store.get(job_id)

    def require(self, job_id: str) -> JobRow:
        """The job, or JobNotFound."""
        return self.store.require(job_id)

    def to_json(self, row: JobRow, positions: dict[str, int] | None = None) -> dict[str, Any]:
        if positions is None and row.status == JobStatus.QUEUED.value:
            positions = self.scheduler.queue_positions()
        return job_json(row, (positions or {}).get(row.id))

    def job_json(self, job_id: str) -> dict[str, Any]:
        """A job's JSON read as a listing reads it (store.record), not through its ORM row."""
        record = self.store.record(job_id, RECORD_COLUMNS)
        if record is None:
            raise JobNotFound(job_id)
        queued = record[_STATUS] == JobStatus.QUEUED.value
        return record_json(record, self.scheduler.queue_positions().get(job_id) if queued else None)

    def count(self, where: JobFilter = EVERY_JOB) -> int:
        return self.store.count(where)

    def list_records(self, columns: Sequence[str], limit: int, after: tuple[float, str] | None = None,
                     where: JobFilter = EVERY_JOB,
                     ascending: bool = False) -> list[tuple[Any, ...]]:
        """The columns of a page of jobs, newest first unless `ascending` (store.list_records)."""
        return self.store.list_records(columns, limit, after, where, ascending=ascending)

    def list_chunk(self, columns: Sequence[str], limit: int, after: tuple[float, str] | None,
                   where: JobFilter, text_chars: int,
                   oldest: tuple[float, str] | None = None) -> tuple[list[tuple[Any, ...]], bool]:
        """A chunk of a listing, its prompts and errors within `text_chars` (store.list_chunk)."""
        return self.store.list_chunk(columns, limit, after, where, text_chars, oldest=oldest)

    def queue_positions(self) -> dict[str, int]:
        return self.scheduler.queue_positions()

    def output(self, job_id: str, what: Literal["video", "poster"]) -> tuple[JobRow, Path | None]:
        """The job, and its video or poster file if it has one in the output directory."""
        row = self.store.require(job_id)
        stored = row.output_path if what == "video" else row.poster_path
        return row, inside(stored, self.output_dir)

    def log_lines(self, job_id: str, after: int = 0, limit: int | None = None) -> tuple[list[str], int]:
        """Up to `limit` lines of a job's log after the first `after`, and how many it has."""
        return self.logs.read(job_id, after, limit)

    def log_file(self, job_id: str) -> tuple[JobRow, Path | None]:
        """The job, and its log file if it has one."""
        row = self.store.require(job_id)
        return row, inside(str(self.logs.path(row.id)), self.log_dir)

    def queue_view(self) -> dict[str, Any]:
        """Whether the queue is paused, and the queued jobs in the order they will be considered."""
        positions = self.scheduler.queue_positions()
        return {
            "paused": self.scheduler.paused,
            "jobs": [{"id": job.id, "model_id": job.params.model_id, "priority": job.priority, "held": bool(job.held),
                      "queue_position": positions.get(job.id)} for job in self.store.queue_order()],
        }

    def allocated(self) -> dict[str, str]:
        """Device -> the job holding it."""
        return self.scheduler.snapshot().allocated

    def cluster_status(self) -> str:
        """ok, or degraded while Ray is out of reach (the API serves and takes jobs)."""
        fleet = self.scheduler.supervisor.fleet
        return "degraded" if fleet is not None and not fleet.connected else "ok"

    def health_view(self) -> dict[str, Any]:
        """What /api/health tells a signed-in caller of the cluster, devices, workers and jobs."""
        fleet = self.scheduler.supervisor.fleet
        inventory = self.scheduler.inventory
        snapshot = self.scheduler.snapshot()
        return {
            "ray": fleet.status() if fleet is not None else None,  # null: local workers only
            "devices": {
                "gpus": list(inventory.gpus),
                "gpu_source": inventory.gpu_source,
                "gpu_reason": inventory.gpu_reason,
                "cpu_slots": list(inventory.cpu_slots),
                "allocated": snapshot.allocated,
            },
            "workers": snapshot.workers,
            "jobs": {
                "queued": len(self.store.queue_order()),
                "total": self.store.count(),
                "running": snapshot.running,
            },
        }

    def running_models(self) -> dict[str, str]:
        """Each running job's model, by job id."""
        return {job_id: row.model_id for job_id in self.store.running_ids()
                if (row := self.store.get(job_id)) is not None}
