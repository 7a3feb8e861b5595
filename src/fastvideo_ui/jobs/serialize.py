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
# says it), the devices and poster (derived below), the json fields' container, and
# the seconds per step its estimates scale by (the scheduler's: a listing of ten
# thousand jobs need not carry it).
INTERNAL = ("queue_rank", "devices", "poster_path", "params", "step_seconds")
_TRUTH = {0: False, 1: True, None: None}  # a Boolean column as SQLite hands it back (True and False hash as 1, 0)
_ACTIONS = {status.value: tuple(user_actions(status)) for status in JobStatus}


class JobJson:
    """A job's JSON for one layout of its fields (the spec's, or a test's with an extra one)."""

    def __init__(self, layout: JobLayout = LAYOUT) -> None:
        table = JobRow.__table__
        self.layout = layout
        # Values a job's JSON carries as they are stored: every column but the internal ones, then the
        # json fields; the record holds the columns, then `params` (the json fields, decoded once per
        # distinct text: layout.json_values) and those the JSON derives fields from.
        self.columns = tuple(c.name for c in table.columns if c.name not in INTERNAL)
        self.copied = (*self.columns, *(f.name for f in layout.in_json))
        self.record_columns = (*self.columns, "params", "devices", "poster_path")
        self._params_at = len(self.columns)
        # SQLite hands a Boolean column back as 0 or 1; the JSON says true and false (a json field is JSON's).
        self.flags = tuple(c.name for c in table.columns if isinstance(c.type, Boolean))
        # A column holding a JSON list's text ("warnings"), and the json fields that are lists.
        self.lists = ("warnings",)
        self._json_lists = frozenset(f.name for f in layout.in_json if f.is_list)
        self.uploads = tuple((f.name, f"{f.name}_url") for f in layout.fields if f.upload)  # an upload's URL
        self.secrets = tuple(f.name for f in layout.fields if f.secret)  # shown redacted
        # Every key of a job's JSON, in its order: a copy of it is filled in place, where a dict built key by
        # key grew (and rehashed) several times on the way to its seventy keys.
        derived = ("queue_position", "devices", "actions", "video_url", "poster_url", "log_url")
        self._keys: dict[str, Any] = dict.fromkeys((*self.copied, *derived, *(url for _, url in self.uploads)))
        self._templates: dict[str | None, dict[str, Any]] = {}  # by `params` text: the keys, its json values in

    def _template(self, params: str | None) -> dict[str, Any]:
        """Every key of a job's JSON with the json fields of a `params` text filled in (arrays as tuples),
        made once per distinct text: most jobs hold the same few."""
        found = self._templates.get(params)
        if found is None:
            found = self._keys.copy()
            for name, value in self.layout.json_values(params).items():
                found[name] = tuple(value or ()) if name in self._json_lists else value
            if len(self._templates) >= 4096:  # bounded: distinct texts come and go
                self._templates.clear()
            self._templates[params] = found
        return found

    def job_json(self, row: JobRow, queue_position: int | None = None) -> dict[str, Any]:
        # A loaded attribute straight from the instance's __dict__ (an ORM attribute read costs
        # several times more, and a create reads every one twice: its event and its answer).
        values = row.__dict__
        return self.record_json(tuple(values[name] if name in values else getattr(row, name)
                                      for name in self.record_columns), queue_position)

    def record_json(self, record: Sequence[Any], queue_position: int | None = None) -> dict[str, Any]:
        """A job's JSON from its record_columns values."""
        job = self._template(record[self._params_at]).copy()
        job.update(zip(self.columns, record, strict=False))  # the record goes on past the columns
        for flag in self.flags:
            job[flag] = _TRUTH[job[flag]]
        # Arrays as tuples: an empty one is no object of its own, and a job dict that holds no list is one
        # the garbage collector need not track (a listing builds ten thousand).
        for name in self.lists:
            value = job[name]
            job[name] = () if value == "[]" or not value else tuple(json.loads(value) if value.__class__ is str
                                                                     else value)
        devices, poster_path = record[-2], record[-1]
        job_id = job["id"]
        job["queue_position"] = queue_position
        job["devices"] = tuple(devices.split(",")) if devices else ()
        job["actions"] = _ACTIONS[job["status"]]
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


# A progress event's fields beside its id and status, as a run's dispatch sets them (each progress
# report then changes some).
PROGRESS_START: dict[str, Any] = {"progress": 0.0, "progress_msg": "", "phase": "starting", "step": None,
                                  "total_steps": None, "eta_seconds": None}
