"""A job's public JSON: its stored columns and per-job fields, and what is derived from them.

One definition serves a single job (an ORM row) and a listing (plain tuples
straight from the database cursor, which is what lets the original's
unpaginated `GET /api/jobs` stay fast at tens of thousands of jobs).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Boolean

from ..database.layout import LAYOUT, JobLayout
from ..database.tables import JobRow
from ..urls import redacted
from .states import JobStatus, user_actions

# Columns a job's JSON does not carry as they are: its queue place (queue_position
# says it), the devices and poster (derived below) and the json fields' container.
INTERNAL = ("queue_rank", "devices", "poster_path", "params")
_ACTIONS = {status.value: tuple(user_actions(status)) for status in JobStatus}


class JobJson:
    """A job's JSON for one layout of its fields (the spec's, or a test's with an extra one)."""

    def __init__(self, layout: JobLayout = LAYOUT) -> None:
        table = JobRow.__table__
        self.layout = layout
        # Values a job's JSON carries as they are stored: every column but the internal ones, then the
        # json fields; the record adds those the JSON derives fields from.
        self.copied = (*(c.name for c in table.columns if c.name not in INTERNAL), *(f.name for f in layout.in_json))
        self.record_columns = (*self.copied, "devices", "poster_path")
        # SQLite hands booleans back as 0 and 1 (json_extract too); the JSON says true and false.
        self.flags = (*(c.name for c in table.columns if isinstance(c.type, Boolean)),
                      *(f.name for f in layout.in_json if f.base_type is bool))
        # JSON text in a listing's record (SQLite hands an array back as text), a tuple from a row: a list.
        self.lists = ("warnings", *(f.name for f in layout.in_json if f.is_list))
        self.uploads = tuple((f.name, f"{f.name}_url") for f in layout.fields if f.upload)  # an upload's URL
        self.secrets = tuple(f.name for f in layout.fields if f.secret)  # shown redacted

    def job_json(self, row: JobRow, queue_position: int | None = None) -> dict[str, Any]:
        # A loaded attribute straight from the instance's __dict__ (an ORM attribute read costs
        # several times more, and a create reads every one twice: its event and its answer).
        values = row.__dict__ | self.layout.stored_values(row)
        return self.record_json(tuple(values[name] if name in values else getattr(row, name)
                                      for name in self.record_columns), queue_position)

    def record_json(self, record: Sequence[Any], queue_position: int | None = None) -> dict[str, Any]:
        """A job's JSON from its record_columns values."""
        job = dict(zip(self.copied, record, strict=False))  # the record ends with the derived-from columns
        for flag in self.flags:
            if job[flag] is not None:
                job[flag] = bool(job[flag])
        for name in self.lists:
            value = job[name]
            job[name] = json.loads(value) if isinstance(value, str) else list(value or ())
        devices, poster_path = record[-2], record[-1]
        job_id = job["id"]
        job["queue_position"] = queue_position
        job["devices"] = devices.split(",") if devices else []
        job["actions"] = list(_ACTIONS[job["status"]])
        job["video_url"] = f"/api/jobs/{job_id}/video" if job["output_path"] else None
        job["poster_url"] = f"/api/jobs/{job_id}/poster" if poster_path else None
        job["log_url"] = f"/api/jobs/{job_id}/download_log"
        for name, url in self.uploads:
            job[url] = f"/api/uploads/{job[name]}" if job[name] else None
        for name in self.secrets:
            if job[name]:  # the stored value stays whole: the sender reads the row
                job[name] = redacted(job[name])
        return job


_SPEC = JobJson()
COPIED = _SPEC.copied
RECORD_COLUMNS = _SPEC.record_columns
job_json = _SPEC.job_json
record_json = _SPEC.record_json


def progress_json(row: JobRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "status": row.status,
        "progress": row.progress,
        "progress_msg": row.progress_msg,
        "phase": row.phase,
        "step": row.step,
        "total_steps": row.total_steps,
        "eta_seconds": row.eta_seconds,
    }
